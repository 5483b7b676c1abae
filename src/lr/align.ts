/**
 * Record alignment for training: the label party runs ECDH-PSI with every feature party;
 * the aligned rows are the label's enterprises found in every pairwise intersection.
 *
 * The label tells each feature party which of its pairwise rows take part, as positions
 * into that pair's canonical PSI list ('align.positions'). Every party then orders its
 * aligned rows by SHA-256(job seed ‖ normalised ID), computed locally on its own IDs: the
 * same order on every party, the same in every run with the same seed (so splits, batches
 * and results reproduce), and no ID or hash of one changes hands.
 *
 * What this adds to PSI's leakage: each feature party learns which of its rows shared with
 * the label are also shared with every other feature party (it must, to train on them),
 * and the size of the aligned set.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { errors } from '../errors.ts';
import { normaliseId } from '../ids/normalise.ts';
import type { IdType } from '../ids/normalise.ts';
import { runPsiParty } from '../psi/ecdh.ts';
import type { PsiExecutor } from '../psi/executor.ts';
import type { BackendName } from '../psi/group.ts';
import { idBatchesFromTable, REPORTED_LINES, type IdSourceReport } from '../psi/source.ts';
import type { FeatureTable } from '../data/table.ts';
import type { Channel } from '../protocol/channel.ts';
import { message } from '../protocol/messages.ts';

export interface AlignmentOptions {
  readonly jobId: string;
  /** The job's shared seed: it fixes the row order. */
  readonly seed: string;
  readonly idType: IdType;
  readonly backend: BackendName;
  readonly executor: PsiExecutor;
}

export interface Alignment {
  /** This party's table rows in the job's row order. */
  readonly rows: Uint32Array;
  readonly report: IdSourceReport;
}

/**
 * (Each party, locally, before alignment) What alignment will skip in a party's table:
 * invalid or empty IDs, and repeated IDs (only the first row of an enterprise takes part),
 * counted with their first line numbers; under `strict` the first of them is an error.
 */
export function checkTableIds(table: FeatureTable, idType: IdType, strict: boolean): IdSourceReport {
  const report: IdSourceReport = { file: table.file, idType, rowsRead: table.rowCount, invalid: 0, invalidLines: [], duplicates: 0, duplicateLines: [] };
  const firstLineOf = new Map<string, number>();
  for (let r = 0; r < table.rowCount; r++) {
    const line = table.lines[r]!;
    const at = { file: table.file, line, column: table.idColumns?.[r], columnName: table.idColumn };
    const id = normaliseId(table.ids[r]!, idType);
    if (!id.ok) {
      if (strict) throw errors.idInvalid(at, table.ids[r]!, id.why);
      report.invalid++;
      if (report.invalidLines.length < REPORTED_LINES) report.invalidLines.push(line);
      continue;
    }
    const first = firstLineOf.get(id.id);
    if (first === undefined) {
      firstLineOf.set(id.id, line);
      continue;
    }
    if (strict) throw errors.idDuplicate(at, first);
    report.duplicates++;
    if (report.duplicateLines.length < REPORTED_LINES) report.duplicateLines.push(line);
  }
  return report;
}

/** The PSI job id of one pair: the job id and the feature party's name, so pairs never share hashes. */
function pairJobId(jobId: string, featureParty: string): string {
  return `${jobId}/align/${featureParty}`;
}

/** (Label) Aligns with every feature party; `channels` map feature party names to their channels. */
export async function alignAsLabel(table: FeatureTable, channels: ReadonlyMap<string, Channel>, options: AlignmentOptions): Promise<Alignment> {
  const pairs = await Promise.all(
    [...channels].map(async ([name, channel]) => {
      const source = idBatchesFromTable(table, options.idType);
      const result = await runPsiParty(
        { channel, jobId: pairJobId(options.jobId, name), backend: options.backend, idType: options.idType, reveal: 'both', side: 'left', executor: options.executor },
        source.batches,
      );
      return { name, channel, rows: result.rows!, report: source.report };
    }),
  );
  const positionIn = pairs.map((pair) => {
    const index = new Int32Array(table.rowCount).fill(-1);
    pair.rows.forEach((row, i) => (index[row] = i));
    return index;
  });
  const aligned = pairs[0]!.rows.filter((row) => positionIn.every((index) => index[row]! >= 0));
  await Promise.all(
    pairs.map((pair, k) => {
      const positions = Uint32Array.from(aligned, (row) => positionIn[k]![row]!);
      return pair.channel.send(message('align.positions', { positions: new Uint8Array(positions.buffer) }));
    }),
  );
  if (aligned.length === 0) {
    throw errors.intersectionEmpty(pairs.map((p) => `${p.name}: ${p.rows.length} shared`).join(', '));
  }
  return { rows: seededOrder(table, aligned, options), report: pairs[0]!.report };
}

/** (Feature party) Aligns with the label party. */
export async function alignAsFeatureParty(table: FeatureTable, name: string, label: Channel, options: AlignmentOptions): Promise<Alignment> {
  const source = idBatchesFromTable(table, options.idType);
  const result = await runPsiParty(
    { channel: label, jobId: pairJobId(options.jobId, name), backend: options.backend, idType: options.idType, reveal: 'both', side: 'right', executor: options.executor },
    source.batches,
  );
  const pairRows = result.rows!;
  const { positions } = await label.receive('align.positions');
  if (positions.byteLength % 4 !== 0) throw errors.protocol('align.positions is not a list of 32-bit positions');
  const view = new DataView(positions.buffer, positions.byteOffset, positions.byteLength);
  const rows = new Uint32Array(positions.byteLength / 4);
  for (let i = 0; i < rows.length; i++) {
    const p = view.getUint32(i * 4, true);
    if (p >= pairRows.length) throw errors.protocol(`align.positions: position ${p} is outside the ${pairRows.length} shared rows`);
    rows[i] = pairRows[p]!;
  }
  if (rows.length === 0) throw errors.intersectionEmpty(`${name}: no row aligned with every party`);
  return { rows: seededOrder(table, rows, options), report: source.report };
}

/** Rows sorted by SHA-256(seed ‖ normalised ID): an order every party derives alone. */
function seededOrder(table: FeatureTable, rows: Uint32Array, options: AlignmentOptions): Uint32Array {
  const encoder = new TextEncoder();
  const seed = encoder.encode(`jinqiao/align/v1/${options.seed}/`);
  const keyed = Array.from(rows, (row) => {
    const id = normaliseId(table.ids[row]!, options.idType);
    if (!id.ok) throw errors.protocol('an aligned row has an invalid ID');
    const input = new Uint8Array(seed.length + id.id.length * 3);
    input.set(seed);
    const { written } = encoder.encodeInto(id.id, input.subarray(seed.length));
    return { row, key: Buffer.from(sha256(input.subarray(0, seed.length + written!))).toString('hex') };
  });
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return Uint32Array.from(keyed, (k) => k.row);
}
