#!/usr/bin/env node
// jinqiao needs Node 24 (node-seal 7 uses WebAssembly GC and exception handling). npm
// scripts and `npx jinqiao` run the Node 24 that `npm install` brings (node_modules/.bin).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `jinqiao: error E_NODE_VERSION: Node ${process.versions.node} is too old; jinqiao needs Node 24 ` +
      '(run it through `npx jinqiao` or an npm script, which use the Node 24 installed by `npm install`)\n',
  );
  process.exit(2);
}
// Node's compile cache keeps each module as compiled (TypeScript stripped) between runs: it
// halves the start of every command and of every worker thread (~0.1 s of CPU each; the
// online phase of `verify --prepared` starts two). Kept in the user's own cache folder, not
// the tmpdir Node would use, which other local users can write into. Workers read the
// variable when they start. NODE_COMPILE_CACHE picks another folder; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
if (process.env.NODE_COMPILE_CACHE === undefined && process.env.NODE_DISABLE_COMPILE_CACHE === undefined) {
  const { constants, enableCompileCache } = await import('node:module');
  const { existsSync, mkdirSync, statSync } = await import('node:fs');
  const { homedir } = await import('node:os');
  const { dirname, join } = await import('node:path');
  const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'jinqiao', 'node-compile-cache');
  // Made level by level: a recursive mkdir (Node's own, in enableCompileCache too) never
  // returns when a parent answers ENOENT, as under /proc (Node 24.21). Any error: no cache.
  let usable = false;
  try {
    const missing = [];
    for (let d = dir; !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
    for (const d of missing) mkdirSync(d, { mode: 0o700 });
    const info = statSync(dir);
    usable = info.isDirectory() && (info.mode & 0o022) === 0 && (process.getuid === undefined || info.uid === process.getuid());
  } catch {
    usable = false;
  }
  if (usable && enableCompileCache(dir).status === constants.compileCacheStatus.ENABLED) process.env.NODE_COMPILE_CACHE = dir;
}
// A service runs for months and jobs come and go in threads: glibc's malloc raises its mmap
// threshold each time a large block is freed, after which buffers of that size come from the
// heaps, where they fragment, and the RSS after a few jobs at once stayed 400-500 MB above its
// size after the first (BENCHMARKS.md, "Serving under load"). A fixed threshold of 1 MiB keeps
// large buffers mapped, and unmapped when freed. malloc reads it when the process starts, so
// `serve` replaces itself once with the variable set (same pid, stdio and arguments);
// MALLOC_MMAP_THRESHOLD_ already set, or JINQIAO_KEEP_MALLOC=1, leaves malloc as it is.
if (
  process.platform === 'linux' &&
  process.argv.slice(2).find((a) => !a.startsWith('-')) === 'serve' &&
  process.env.MALLOC_MMAP_THRESHOLD_ === undefined &&
  process.env.JINQIAO_KEEP_MALLOC === undefined &&
  typeof process.execve === 'function'
) {
  try {
    process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, MALLOC_MMAP_THRESHOLD_: String(1 << 20) });
  } catch (e) {
    // Where the process may not replace itself (a sandbox), the service runs with malloc's defaults.
    process.stderr.write(`jinqiao: warning: could not restart with a fixed malloc mmap threshold (${e.message}); the service's memory may not come back after jobs\n`);
  }
}
await import('../src/cli/main.ts');
