// Same-run comparison of the two protocols (bench/train.ts benchAgainstGradientRevealing) on the tree given as argv[2]; prints JSON with commit and uptime. Used for the trainlayout study.
const root = process.argv[2];
const { benchAgainstGradientRevealing } = await import(root + '/bench/train.ts');
const { execSync } = await import('node:child_process');
let commit; try { commit = execSync('git rev-parse --short HEAD', { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch { commit = 'prototype (73c12d2 + scratch diff, TL_PROTO=' + (process.env.TL_PROTO ?? '0') + ')'; }
const startUptime = execSync('uptime').toString().trim();
const started = new Date().toISOString();
const r = await benchAgainstGradientRevealing(100_000, 3, 8192, [30, 300], true, false);
const endUptime = execSync('uptime').toString().trim();
console.log(JSON.stringify({ ...r, commit, started, ended: new Date().toISOString(), uptimeStart: startUptime, uptimeEnd: endUptime }, null, 1));
