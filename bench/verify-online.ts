/**
 * The online phase of `verify --prepared` in this process, as the CLI runs it (the worker pool
 * started inside), with the CPU it took: all threads, and the main thread alone. Wall time on
 * a shared machine says little by itself; CPU seconds compare runs under different loads.
 *
 *   node bench/verify-online.ts <claims.csv> <tags> <keyDir> <field>...   (fields as --field)
 *
 * With the files of bench/verify-data.ts and `jinqiao psi prepare register.csv --id uscc --key
 * <keyDir> --out <tags> --field vat_paid:tol=0.05 --field employees`:
 *
 *   node bench/verify-online.ts claims.csv tags.bin keys vat_paid:tol=0.05 employees
 *
 * Prints one JSON line: onlineSeconds, cpuSeconds, mainThreadCpuSeconds, the verdict counts,
 * the agency's evaluations and the 1-minute load average before and after.
 */
import { loadavg } from 'node:os';
import { parseFieldCheck, runPreparedVerification } from '../src/lookup/verify.ts';

const [claims, prepared, keyDir, ...fields] = process.argv.slice(2);
if (claims === undefined || prepared === undefined || keyDir === undefined || fields.length === 0) {
  process.stderr.write('usage: node bench/verify-online.ts <claims.csv> <tags> <keyDir> <field>...\n');
  process.exit(2);
}
const loadBefore = loadavg()[0]!;
const cpu0 = process.cpuUsage();
const main0 = process.threadCpuUsage();
const r = await runPreparedVerification({ claims: { file: claims, idColumn: 'uscc' }, prepared, keyDir, checks: fields.map(parseFieldCheck) });
const cpu = process.cpuUsage(cpu0);
const main = process.threadCpuUsage(main0);
const consistent = r.verdicts.filter((v) => v.consistent).length;
process.stdout.write(
  JSON.stringify({
    onlineSeconds: r.onlineSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    mainThreadCpuSeconds: (main.user + main.system) / 1e6,
    claims: r.verdicts.length,
    consistent,
    inconsistent: r.verdicts.length - consistent,
    evaluations: r.evaluations,
    loadAverage: { before: loadBefore, after: loadavg()[0]! },
  }) + '\n',
);
