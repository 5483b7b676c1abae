/**
 * The layout's rules (README, Layout), checked on the source: protocols are written against
 * the Channel interface alone, and whatever a job does is written once, in src/jobs/, for
 * both hosts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  // Type-only imports carry no code: a host may name a protocol's result type.
  return [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import(?! type)|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

const offenders = (folders: readonly string[], forbidden: RegExp) =>
  folders
    .flatMap((f) => files(join(SRC, f)))
    // index.ts files are the package's entry points: they export the hosts too.
    .filter((file) => !file.endsWith('/index.ts'))
    .flatMap((file) => importsOf(file).filter((spec) => forbidden.test(spec)).map((spec) => `${relative(SRC, file)} imports ${spec}`));

describe('the layout', () => {
  it('keeps protocol code free of channel implementations, hosts and services', () => {
    expect(offenders(['protocol', 'psi', 'lr', 'score', 'he', 'governance', 'jobs'], /\/(transport|service|local)\//)).toEqual([]);
  });

  it('keeps the state machines of the protocols free of files, sockets and timers', () => {
    const machines = ['protocol', 'lr/roles'].flatMap((f) => files(join(SRC, f))).concat(['psi/ecdh.ts', 'score/bank.ts', 'score/agency.ts'].map((f) => join(SRC, f)));
    const found = machines.flatMap((file) => importsOf(file).filter((spec) => /^node:(fs|net|tls|http|https|timers)/.test(spec)).map((spec) => `${relative(SRC, file)} imports ${spec}`));
    expect(found).toEqual([]);
  });

  it('leaves the hosts only wiring: neither runs a protocol role itself', () => {
    expect(offenders(['local', 'service'], /\/lr\/roles\/|\/binning\/roles\/|\/score\/(bank|agency)\.ts$/)).toEqual([]);
    // The in-process binning host wires the job runners (src/jobs/binning.ts), as local/ does for training.
    expect(importsOf(join(SRC, 'binning/in-process.ts')).filter((spec) => /\/roles\//.test(spec))).toEqual([]);
  });
});
