import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readYamlFile } from '../../src/data/yaml.ts';
import { parsePolicy } from '../../src/governance/policy.ts';
import { loadPartyConfig } from '../../src/service/config.ts';
import { jinqiao } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-yaml-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** "Billion laughs": nine levels of nine aliases each, 9^9 strings once expanded. */
const BOMB = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
  .concat('bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`))
  .join('\n');

describe('operator-written YAML files', () => {
  it('expands the few aliases a real file uses', async () => {
    const path = file('aliases.yaml', 'defaults: &d { epochs: 3 }\ntraining: *d\n');
    expect(await readYamlFile(path)).toEqual({ defaults: { epochs: 3 }, training: { epochs: 3 } });
  });

  it('refuses an alias bomb in a job file or a party config, naming the file', async () => {
    const path = file('bomb.yaml', BOMB);
    await expect(readYamlFile(path)).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringMatching(new RegExp(`^${path}: its aliases cannot be expanded: .* \\(at most 100 expansions\\)$`)) });
    await expect(loadPartyConfig(path)).rejects.toMatchObject({ code: 'E_JOB_INVALID', message: expect.stringContaining(`${path}: its aliases cannot be expanded`) });
  });

  it('refuses an alias bomb in a policy file', async () => {
    await expect(parsePolicy(BOMB, 'policy.yaml')).rejects.toMatchObject({ code: 'E_POLICY_INVALID', message: expect.stringContaining('its aliases cannot be expanded') });
  });

  it('ends `jinqiao run` on an alias bomb with exit 2 and one line', () => {
    const path = file('bomb-job.yaml', BOMB);
    const r = jinqiao(['run', path]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(`error E_JOB_INVALID: ${path}: its aliases cannot be expanded`)]);
  });
});
