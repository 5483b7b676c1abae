/**
 * The launcher's compile cache (bin/jinqiao.js): kept in the user's own folder, refused when
 * others can write into it, and never in the way of the command when the folder cannot be
 * made (Node's recursive mkdir never returns under /proc, so the launcher makes it itself).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../../bin/jinqiao.js');
const VERSION = `${(JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }).version}\n`;
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-compile-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `jinqiao --version` with XDG_CACHE_HOME set and Node's own cache variables removed; the child is killed after 60 s (a hang fails). */
function version(cacheHome: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: cacheHome };
  delete env.NODE_COMPILE_CACHE;
  delete env.NODE_DISABLE_COMPILE_CACHE;
  const r = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout };
}

describe('the compile cache of the launcher', () => {
  it("is made in the user's cache folder, readable by the user only, and filled", () => {
    const home = join(dir, 'fresh');
    expect(version(home)).toEqual({ code: 0, stdout: VERSION });
    const cache = join(home, 'jinqiao', 'node-compile-cache');
    expect(statSync(cache).mode & 0o077).toBe(0);
    expect(readdirSync(cache).length).toBeGreaterThan(0);
  });

  it('is not used in a folder that others can write into', () => {
    const cache = join(dir, 'shared', 'jinqiao', 'node-compile-cache');
    mkdirSync(cache, { recursive: true });
    chmodSync(cache, 0o777);
    expect(version(join(dir, 'shared'))).toEqual({ code: 0, stdout: VERSION });
    expect(readdirSync(cache)).toEqual([]);
  });

  it.runIf(process.platform === 'linux')('is skipped, and the command runs, where the folder cannot be made (under /proc)', () => {
    expect(version('/proc/jinqiao-no-such-folder')).toEqual({ code: 0, stdout: VERSION });
    expect(existsSync('/proc/jinqiao-no-such-folder')).toBe(false);
  });
});
