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
await import('../src/cli/main.ts');
