/** `jinqiao score` and `jinqiao monitor`: using a trained split model, every party in one process. */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { errors } from '../errors.ts';
import { writeAtomically } from '../data/write.ts';
import type { IdTypeOption } from '../ids/normalise.ts';
import { openLocalScoringSession, type LocalScoringOptions } from '../local/scoring.ts';
import { compareRuns, loadAgencyPartials, loadRuns, monitoringReport, saveRun } from '../score/monitoring.ts';
import { writeReport } from '../report/html.ts';
import { pointsFor } from '../report/scorecard.ts';
import { loadBinningFile, loadScorecardScale } from '../binning/scorecard-training.ts';
import { loadModelSlice, type ModelSlice } from '../lr/model.ts';
import { loadOrCreateDecoyKey } from '../governance/keys.ts';
import { parseNameList } from './governance-options.ts';
import { parseNonNegativeInt, parsePartyFile, parseProbability, parseThreads, partyName } from './options.ts';
import { runCommand } from './run-command.ts';

interface Common {
  disclosePartialScores?: string;
  model: string;
  label: string;
  features: string[];
  id: string;
  idType?: IdTypeOption;
  threads?: string;
  json?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function withParties(command: Command): Command {
  return command
    .requiredOption('--model <dir>', 'the output folder of the training job (its model-<party>.json slices)')
    .requiredOption('--label <bank.csv>', "the bank's current records (a row for every enterprise to score)")
    .requiredOption('--features <[name=]agency.csv>', "an agency's current records; repeat per agency; name as in training (default: the file's base name)", collect)
    .requiredOption('--id <column>', 'the ID column, the same name in every table')
    .addOption(new Option('--id-type <type>', 'how to read IDs (default: decided from the data)').choices(['auto', 'uscc', 'plain']))
    .option('--threads <n>', 'worker threads (default: all cores)')
    .option('--disclose-partial-scores <agencies>', "agencies (comma-separated) that allow the bank to see the score of an enterprise only they hold, which reveals their partial score; others' such enterprises are refused")
    .option('--json', 'print one JSON object on stdout');
}

function sessionOptions(opts: Common): Omit<LocalScoringOptions, 'bank'> {
  return {
    modelDir: opts.model,
    agencies: opts.features.map((spec) => ({ ...parsePartyFile(spec), idColumn: opts.id })),
    idType: opts.idType,
    threads: parseThreads(opts.threads),
    disclosePartialScores: opts.disclosePartialScores === undefined ? undefined : parseNameList('--disclose-partial-scores', opts.disclosePartialScores),
  };
}

/** The label party's slice, so that the bank's table is matched to it by name. */
async function labelSlice(modelDir: string): Promise<ModelSlice> {
  for (const f of (await readdir(modelDir).catch(() => [])).filter((f) => /^model-.*\.json$/.test(f))) {
    const slice = await loadModelSlice(join(modelDir, f));
    if (slice.role === 'label') return slice;
  }
  throw errors.modelInvalid(modelDir, 'holds no model slice of a label party (model-*.json with role "label"); train first');
}

export function scoreCommand(): Command {
  return withParties(new Command('score').description('joint scoring: probabilities of default for enterprises, from the bank and every agency, through the trained split model'))
    .requiredOption('--ids <ids>', 'IDs to score, comma-separated, or @file with one ID per line')
    .option('--decoys <n>', 'decoys per real ID, so agencies cannot tell which enterprise is queried (default 0; needs --keys)')
    .option('--keys <dir>', "the bank's key folder: its persistent decoy key (scoring-decoys.secret) is read there, or made on first use")
    .option('--out <file>', 'write id,status,probability,fallbacks,reason as CSV (with --points: id,status,probability,points,fallbacks,reason)')
    .option('--binning <binning.json>', 'the binning a scorecard model was trained on (`train --binning`): every party encodes its current records as the same bins')
    .option('--points', "also give each score in scorecard points (the model's scorecard.csv scaling: base plus the points of the enterprise's bins); needs --binning")
    .action((opts: Common & { ids: string; decoys?: string; keys?: string; out?: string; binning?: string; points?: boolean }) =>
      runCommand(async () => {
        const ids = opts.ids.startsWith('@')
          ? (await readFile(opts.ids.slice(1), 'utf8').catch((e: Error) => { throw errors.fileUnreadable(opts.ids.slice(1), e.message); })).split(/\r?\n/).map((s) => s.trim()).filter(Boolean)
          : opts.ids.split(',').map((s) => s.trim()).filter(Boolean);
        const decoys = opts.decoys === undefined ? 0 : parseNonNegativeInt('--decoys', opts.decoys);
        if (decoys > 0 && opts.keys === undefined) throw errors.optionInvalid('--decoys', "decoys need the bank's persistent decoy key", 'add --keys <dir> (the bank\'s key folder); the key is made there on first use and must be kept');
        const decoyKey = opts.keys === undefined ? undefined : await loadOrCreateDecoyKey(opts.keys);
        const bank = await labelSlice(opts.model);
        if (opts.points && opts.binning === undefined) throw errors.optionInvalid('--points', 'points belong to a scorecard model', 'give --binning <binning.json>, the binning the model was trained on');
        if (opts.points) await readFile(join(opts.model, 'scorecard.csv')).catch(() => { throw errors.modelInvalid(opts.model, 'holds no scorecard.csv: it is not a scorecard model (train it with --binning)'); });
        // Points on the scale scorecard.csv was written with, so that they are the sum of its bins' points.
        const card = opts.points ? await loadScorecardScale(join(opts.model, 'scorecard.json')) : null;
        const binning = opts.binning === undefined ? undefined : await loadBinningFile(opts.binning);
        const session = await openLocalScoringSession({ ...sessionOptions(opts), bank: { file: opts.label, idColumn: opts.id, name: bank.party }, decoyKey, ...(binning ? { binning } : {}) });
        const pointsOf = (p: number) => (card === null ? NaN : Math.round(pointsFor(card, p) * 100) / 100);
        const started = performance.now();
        let scores;
        try {
          scores = await session.score(ids, { decoys });
        } finally {
          await session.close();
        }
        const seconds = (performance.now() - started) / 1000;
        if (opts.out) {
          await writeAtomically(opts.out, async (write) => {
            await write(opts.points ? 'id,status,probability,points,fallbacks,reason\n' : 'id,status,probability,fallbacks,reason\n');
            for (const s of scores) {
              const points = opts.points ? `${s.status === 'scored' ? pointsOf(s.probability) : ''},` : '';
              await write(`${s.id},${s.status},${s.probability?.toPrecision(8) ?? ''},${points}${s.fallbacks.join(';')},${s.status === 'scored' ? '' : s.rule}\n`);
            }
          });
        }
        if (opts.json) {
          process.stdout.write(JSON.stringify({ scores: scores.map((s) => (s.status === 'scored' ? { id: s.id, status: s.status, probability: s.probability, ...(opts.points ? { points: pointsOf(s.probability) } : {}), fallbacks: s.fallbacks } : { id: s.id, status: s.status, code: s.code, rule: s.rule, reason: s.reason })), seconds }) + '\n');
          return;
        }
        for (const s of scores) {
          if (s.status !== 'scored') process.stdout.write(`${s.id}  ${s.status}: ${s.reason}\n`);
          else process.stdout.write(`${s.id}  ${s.probability.toFixed(4)}${opts.points ? `  ${pointsOf(s.probability)} points` : ''}${s.fallbacks.length ? `  (no record at ${s.fallbacks.join(', ')}: training mean used)` : ''}\n`);
        }
      }),
    );
}

export function monitorCommand(): Command {
  return withParties(new Command('monitor').description("loan-book monitoring: rescore the bank's whole book, compare with the last run, raise risk warnings"))
    .requiredOption('--runs <dir>', 'folder where runs are kept (one file per run)')
    .option('--threshold <p>', 'warning threshold on the probability of default (default 0.3)')
    .option('--delta <p>', 'warn when a probability moves by more than this (default 0.1)')
    .action((opts: Common & { runs: string; threshold?: string; delta?: string }) =>
      runCommand(async () => {
        // Checked before anything is scored or kept: a run saved with a threshold the report then refuses would be compared with the next.
        const threshold = opts.threshold === undefined ? 0.3 : parseProbability('--threshold', opts.threshold);
        const delta = opts.delta === undefined ? 0.1 : parseProbability('--delta', opts.delta);
        const previousRuns = await loadRuns(opts.runs);
        const agencyState = join(opts.runs, 'agencies');
        const names = opts.features.map((spec) => partyName(parsePartyFile(spec)));
        const previousAgencyMonitoring = new Map<string, Float64Array>();
        for (const name of names) {
          const saved = await loadAgencyPartials(join(agencyState, `${name}.json`), name);
          if (saved) previousAgencyMonitoring.set(name, saved);
        }
        const bank = await labelSlice(opts.model);
        const session = await openLocalScoringSession({ ...sessionOptions(opts), bank: { file: opts.label, idColumn: opts.id, name: bank.party }, previousAgencyMonitoring });
        let current;
        let reports;
        try {
          current = await session.monitor();
        } finally {
          reports = await session.close();
        }
        const run = compareRuns(current, previousRuns.at(-1), { threshold, delta, modelJobId: bank.jobId });
        const file = await saveRun(opts.runs, run);
        const report = await writeReport(join(opts.runs, 'report.html'), monitoringReport([...previousRuns, run], opts.label.replace(/^.*[\\/]/, '')));
        // Each agency keeps its own partial scores for its next drift index (its own state, in its own file).
        await mkdir(agencyState, { recursive: true });
        for (const [name, report] of reports) {
          if (!report.monitoring) continue;
          await writeFile(join(agencyState, `${name}.json.tmp`), JSON.stringify(Array.from(report.monitoring)));
          await rename(join(agencyState, `${name}.json.tmp`), join(agencyState, `${name}.json`));
        }
        if (opts.json) {
          process.stdout.write(JSON.stringify({ run: file, report, summary: run.summary, scoreDrift: run.scoreDrift, agencyDrift: run.agencyDrift, alerts: run.alerts, previousRuns: previousRuns.length }) + '\n');
          return;
        }
        process.stdout.write(
          [
            `rescored ${run.summary.enterprises} enterprises: mean probability ${run.summary.meanProbability.toFixed(4)}, ${run.summary.aboveThreshold} at or above ${threshold}` +
              (run.summary.notScored > 0 ? `; ${run.summary.notScored} not scored (held by one agency whose policy does not allow disclosing its partial score)` : ''),
            previousRuns.length === 0 ? 'first run: nothing to compare with yet' : `score drift (PSI-index) ${run.scoreDrift!.toFixed(4)}; ${run.alerts.length} warnings`,
            ...Object.entries(run.agencyDrift).map(([name, v]) => `  ${name}: drift ${v === null ? 'n/a (first run)' : v === 'withheld' ? "withheld (the agency's policy does not disclose its partial scores, or the model is kept encrypted)" : v.toFixed(4)}`),
            ...run.alerts.slice(0, 20).map((a) => `  ${a.reason.padEnd(12)} ${a.id}  ${a.previous.toFixed(4)} -> ${a.current.toFixed(4)}`),
            `run saved: ${file}`,
            `report: ${report}`,
          ].join('\n') + '\n',
        );
      }),
    );
}
