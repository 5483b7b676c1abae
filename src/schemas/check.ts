/**
 * Checks a file's data against its TypeBox schema and says what is wrong the way every
 * jinqiao error does: the path of the field at fault (`tables.customers.labelz`,
 * `partners[0].purposes[1]`) and a sentence saying what it must be. The caller turns the
 * path into file:line:column (data/yaml.ts `locate`) and the error code of its kind of file.
 *
 * Only the first problem is reported, as the hand checks did: one fix at a time, each
 * named precisely. The schema alone decides what is valid; this module only words it.
 *
 * Wording comes from the schema, so the docs (docs/config-schema.json) and the errors
 * agree. A schema node may carry, besides standard JSON Schema:
 * - `errorMessage`: what the value must be, replacing the generic sentence. A string
 *   applies to any check of the node's own value (type, enum, pattern, range, length);
 *   an object maps a keyword to its sentence (`{ additionalProperties: 'unknown parameter' }`),
 *   as the ajv-errors convention does.
 * - `description`: shown when the field is missing.
 * - `writeOnly: true`: a secret (a token, a URL with a password): never echoed in a message.
 */
import type { Static, TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import type { TLocalizedValidationError } from 'typebox/error';
import { shownValue } from '../errors.ts';
import type { FieldPath } from '../data/yaml.ts';

export interface SchemaProblem {
  /** The field at fault; for a missing or unknown field, that field (not its parent). */
  readonly path: FieldPath;
  /** What it must be, e.g. `must be a whole number in 2..1000, got 1`. */
  readonly why: string;
}

type Node = Record<string, unknown>;

const validators = new WeakMap<TSchema, Validator>();

function validator(schema: TSchema): Validator {
  let v = validators.get(schema);
  if (v === undefined) validators.set(schema, (v = Compile(schema) as unknown as Validator));
  return v;
}

/** True when `value` conforms to `schema` (compiled once per schema: consent tokens are checked by the thousand). */
export function conforms<T extends TSchema>(schema: T, value: unknown): value is Static<T> {
  return validator(schema).Check(value);
}

/** The first problem of `value` against `schema`, or undefined when it conforms. */
export function firstProblem(schema: TSchema, value: unknown): SchemaProblem | undefined {
  if (conforms(schema, value)) return undefined;
  return explain(schema, value, []);
}

/**
 * Checks `value` against `schema`; the first problem becomes `refuse(path, why)`, which the
 * caller words as its file's error (E_JOB_INVALID, E_POLICY_INVALID, …).
 */
export function conform<T extends TSchema>(schema: T, value: unknown, refuse: (path: FieldPath, why: string) => Error): asserts value is Static<T> {
  const problem = firstProblem(schema, value);
  if (problem) throw refuse(problem.path, problem.why);
}

function explain(schema: TSchema, value: unknown, at: FieldPath): SchemaProblem {
  // An unknown property is reported twice: as a `false` subschema at the property, then as
  // `additionalProperties` at the object, which knows the accepted names. Keep the second.
  const all = validator(schema).Errors(value).filter((e) => !(e.keyword === 'boolean' && e.schemaPath.endsWith('/additionalProperties')));
  const first = all[0];
  if (first === undefined) return { path: at, why: 'is invalid' };
  const anyOf = first.schemaPath.indexOf('/anyOf/');
  if (anyOf >= 0) return explainUnion(schema, value, at, all, first.schemaPath.slice(0, anyOf));
  return describe(first, resolve(schema, first.schemaPath), value, at);
}

/**
 * A value that matches no branch of a union (`host:port` or `{ address, role }`): the
 * branch of the value's own kind explains it (a mapping's unknown key, say); a value of a
 * kind no branch takes gets the union's own sentence.
 */
function explainUnion(schema: TSchema, value: unknown, at: FieldPath, all: readonly TLocalizedValidationError[], schemaPath: string): SchemaProblem {
  const node = resolve(schema, schemaPath);
  const union = all.find((e) => e.keyword === 'anyOf' && e.schemaPath === schemaPath);
  const steps = union === undefined ? [] : pointerSteps(union.instancePath, value);
  const sub = valueAt(value, steps);
  const path = [...at, ...steps];
  const branches = (node.anyOf as TSchema[]).filter((b) => takesKind(b as Node, sub));
  if (branches.length === 1) return explain(branches[0]!, sub, path);
  const why = message(node, 'anyOf') ?? `must be ${orList((node.anyOf as Node[]).map(kindWords))}`;
  return { path, why: node.writeOnly === true ? why : `${why}, got ${shown(sub)}` };
}

function describe(error: TLocalizedValidationError, node: Node, root: unknown, at: FieldPath): SchemaProblem {
  const steps = pointerSteps(error.instancePath, root);
  const path = [...at, ...steps];
  const value = valueAt(root, steps);
  // A key that breaks `propertyNames` is reported at the key: show the key, not its value.
  const offending = error.schemaPath.endsWith('/propertyNames') ? path[path.length - 1] : value;
  const got = (why: string) => (node.writeOnly === true ? why : `${why}, got ${shown(offending)}`);
  switch (error.keyword) {
    case 'additionalProperties': {
      const extra = error.params.additionalProperties[0]!;
      const known = Object.keys((node.properties as Node | undefined) ?? {});
      return { path: [...path, extra], why: `${message(node, 'additionalProperties') ?? 'unknown field'} (expected one of: ${known.join(', ')})` };
    }
    case 'required': {
      const missing = error.params.requiredProperties[0]!;
      const property = (node.properties as Record<string, Node> | undefined)?.[missing];
      const description = typeof property?.description === 'string' ? `: ${sentenceCase(property.description)}` : '';
      return { path: [...path, missing], why: message(node, 'required') ?? `is missing${description}` };
    }
    case 'dependentRequired': {
      const present = isRecord(value) ? value : {};
      const missing = error.params.dependencies.find((d) => !(d in present)) ?? error.params.dependencies[0]!;
      return { path: [...path, missing], why: message(node, 'dependentRequired') ?? `is required with ${error.params.property}` };
    }
    case 'uniqueItems': {
      const i = error.params.duplicateItems[0]!;
      const item = Array.isArray(value) ? value[i] : undefined;
      return { path: [...path, i], why: message(node, 'uniqueItems') ?? `${shown(item)} is listed twice` };
    }
    case 'type':
      return { path, why: got(message(node, 'type') ?? `must be ${orList([error.params.type].flat().map(typeWords))}`) };
    case 'enum':
      return { path, why: got(message(node, 'enum') ?? `must be ${orList(error.params.allowedValues.map(String))}`) };
    case 'const':
      return { path, why: got(message(node, 'const') ?? `must be ${JSON.stringify(error.params.allowedValue)}`) };
    case 'pattern':
      return { path, why: got(message(node, 'pattern') ?? `must match ${String(error.params.pattern)}`) };
    case 'minimum':
      return { path, why: got(message(node, 'minimum') ?? `must be at least ${error.params.limit}`) };
    case 'exclusiveMinimum':
      return { path, why: got(message(node, 'exclusiveMinimum') ?? `must be more than ${error.params.limit}`) };
    case 'maximum':
      return { path, why: got(message(node, 'maximum') ?? `must be at most ${error.params.limit}`) };
    case 'exclusiveMaximum':
      return { path, why: got(message(node, 'exclusiveMaximum') ?? `must be less than ${error.params.limit}`) };
    case 'minLength':
      return { path, why: message(node, 'minLength') ?? (error.params.limit === 1 ? 'must be a non-empty string' : `must be at least ${error.params.limit} characters`) };
    case 'maxLength':
      return { path, why: message(node, 'maxLength') ?? `must be at most ${error.params.limit} characters` };
    case 'minItems':
      return { path, why: message(node, 'minItems') ?? `must list at least ${error.params.limit === 1 ? 'one item' : `${error.params.limit} items`}` };
    case 'minProperties':
      return { path, why: message(node, 'minProperties') ?? `must have at least ${error.params.limit === 1 ? 'one entry' : `${error.params.limit} entries`}` };
    default:
      return { path, why: message(node, error.keyword) ?? error.message };
  }
}

/** The node's own sentence for `keyword`: a string covers every check of its value, not those that name a child. */
function message(node: Node, keyword: string): string | undefined {
  const custom = node.errorMessage;
  if (typeof custom === 'string') return CHILD_KEYWORDS.has(keyword) ? undefined : custom;
  if (isRecord(custom) && typeof custom[keyword] === 'string') return custom[keyword];
  return undefined;
}

const CHILD_KEYWORDS = new Set(['additionalProperties', 'required', 'dependentRequired', 'uniqueItems']);

/** The schema node at `schemaPath` (`#/properties/partners/patternProperties/^.*$`). */
function resolve(schema: TSchema, schemaPath: string): Node {
  let node = schema as unknown as Node;
  for (const step of schemaPath.replace(/^#\/?/, '').split('/').filter((s) => s !== '')) {
    node = node[step.replace(/~1/g, '/').replace(/~0/g, '~')] as Node;
  }
  return node;
}

/** JSON Pointer `/partners/0/purposes` as a field path, numbers for list indices. */
function pointerSteps(pointer: string, root: unknown): (string | number)[] {
  const steps: (string | number)[] = [];
  let value = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const step = Array.isArray(value) ? Number(key) : key;
    steps.push(step);
    value = (value as Record<string | number, unknown> | undefined)?.[step];
  }
  return steps;
}

function valueAt(root: unknown, steps: readonly (string | number)[]): unknown {
  return steps.reduce<unknown>((v, s) => (v as Record<string | number, unknown> | undefined)?.[s], root);
}

/** Whether a union branch takes values of this kind (a string, a mapping, a list …). */
function takesKind(branch: Node, value: unknown): boolean {
  const kind = kindOf(value);
  const types = [branch.type].flat();
  return types.includes(kind) || (kind === 'integer' && types.includes('number'));
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function kindWords(branch: Node): string {
  return orList([branch.type].flat().filter((t): t is string => typeof t === 'string').map(typeWords));
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  null: 'empty',
};

function typeWords(type: string): string {
  return TYPE_WORDS[type] ?? type;
}

/** `a`, `a or b`, `a, b or c`. */
function orList(words: readonly string[]): string {
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

/** The offending value as a message shows it (a secret, `writeOnly`, is never passed here). */
function shown(value: unknown): string {
  if (typeof value === 'string') return shownValue(value);
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/** A description as the middle of a sentence: `The institution…` → `the institution…` (an acronym stays). */
function sentenceCase(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
