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
  const { homedir } = await import('node:os');
  const { join } = await import('node:path');
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const cache = enableCompileCache(join(cacheHome, 'jinqiao', 'node-compile-cache'));
  if (cache.status === constants.compileCacheStatus.ENABLED) process.env.NODE_COMPILE_CACHE = cache.directory;
}
await import('../src/cli/main.ts');
