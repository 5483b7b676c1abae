/** Runs the `jinqiao` command as a user would, in a child process on the project's Node. */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const BIN = resolve(import.meta.dirname, '../../bin/jinqiao.js');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `timeoutMs` is a liveness bound (the child is killed past it), generous by default for a loaded machine. */
export function jinqiao(args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: options.cwd, timeout: options.timeoutMs ?? 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
