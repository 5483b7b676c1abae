// Per-chunk CPU-s and accuracy of the F-feature products (argv[3]) on the tree argv[2], argv[4] repetitions; TL_PROTO=1 selects the prototype layout of 2026-12-02-train-layout-prototype.diff.
const root = process.argv[2];
const F = Number(process.argv[3]);
const { ckksBackend } = await import(root + '/src/he/ckks.ts');
const { ENCRYPTED_MODEL_PARAMS } = await import(root + '/src/he/params.ts');
const { keepExponent } = await import(root + '/src/lr/encrypted-model.ts');
const { rotationStepsFor } = await import(root + '/src/lr/protocol.ts');
const { planMatvec } = await import(root + '/src/he/diagonals.ts');
const S = ENCRYPTED_MODEL_PARAMS.polyModulusDegree / 2;
const plan = planMatvec(F, S);
const P = plan.period ?? plan.width;
console.log(JSON.stringify(plan), rotationStepsFor(F, S, false).length, 'steps');
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const owner = await ckksBackend.createKeyOwner(ENCRYPTED_MODEL_PARAMS, rotationStepsFor(F, S, false));
const ev = await ckksBackend.createEvaluator(owner.publicBundle());
const reveal = (ct, count, bound) => { const r = ev.maskForDecryption(ct, count, bound); return ev.unmask(owner.decryptMasked(r.masked, count, r.boundBits), r.secret); };
const rows = S;
const X = Float64Array.from({ length: rows * F }, (_, i) => Math.sin(i * 0.37 + 1) * 0.5);
const wv = Float64Array.from({ length: F }, (_, j) => Math.cos(j * 1.3) * 0.5);
const wslots = Float64Array.from({ length: S }, (_, s) => wv[s % P] ?? 0);
const [w] = ev.encrypt(wslots);
const alpha = 1 / 64, factor = -1 / 32;
const pb = (v) => 2 ** Math.max(-3, Math.ceil(Math.log2(Math.max(...Array.from(v, Math.abs)))));
const exponent = keepExponent(alpha, factor);
const Xa = X.map((v) => v * alpha), Xf = X.map((v) => v * factor);
const u = new Float64Array(rows); for (let r = 0; r < rows; r++) for (let j = 0; j < F; j++) u[r] += Xa[r * F + j] * wv[j];
const maxd = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const t = { fwdKept: 0, gradKept: 0, gradPlain: 0, fwdPlain: 0 };
const reps = Number(process.argv[4] ?? 2);
for (let r = 0; r <= reps; r++) {
  let c = cpu();
  const uk = ev.matvecReplicated(w, Xa, rows, F, { handle: 'h' + r, exponent });
  const a = cpu() - c; c = cpu();
  const gk = ev.matvecPartial(uk, Xa, rows, F, { handle: 'h' + r, exponent, alpha, factor });
  const b = cpu() - c; c = cpu();
  ev.matvecPartial(uk, Xf, rows, F);
  const d = cpu() - c; c = cpu();
  const up = ev.matvecReplicated(w, Xa, rows, F);
  const e = cpu() - c;
  if (r > 0) { t.fwdKept += a / reps; t.gradKept += b / reps; t.gradPlain += d / reps; t.fwdPlain += e / reps; }
  if (r === 0) {
    const ub = pb(u);
    console.log('forward: bound', ub, 'kept err/bound', (maxd(reveal(uk[0], rows, ub), u) / ub).toExponential(2), 'plain err/bound', (maxd(reveal(up[0], rows, ub), u) / ub).toExponential(2));
    const y = new Float64Array(F); for (let r2 = 0; r2 < rows; r2++) for (let j = 0; j < F; j++) y[j] += Xf[r2 * F + j] * u[r2];
    const full = ev.matvecTransposed(uk, Xf, rows, F, undefined);
    const yb = pb(y);
    const first = reveal(full, F, yb);
    const all = reveal(full, S, 16);
    console.log('gradient: bound', yb, 'err/bound [0,F)', (maxd(first, y) / yb).toExponential(2));
    let rep = 0, junk = 0;
    for (let s = P; s < S; s++) { const want = s % P < F ? y[s % P] : 0; rep = Math.max(rep, Math.abs(all[s] - want)); junk = Math.max(junk, Math.abs(all[s])); }
    console.log('slots >= P: max |slot - replica|', rep.toExponential(2), 'max |slot|', junk.toExponential(2));
  }
}
console.log(JSON.stringify({ F, P, width: plan.width, rows, ...Object.fromEntries(Object.entries(t).map(([k, v]) => [k, +v.toFixed(3)])) }));
