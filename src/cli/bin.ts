/** `jinqiao bin`: federated binning, WOE and IV of every party's features, every party in one process. */
import { Command, Option } from 'commander';
import type { BinningMethod } from '../binning/bins.ts';
import type { BinningConfig } from '../binning/config.ts';
import { runBinningInProcess } from '../binning/in-process.ts';
import { droppedFeatures, writeBinningOutputs } from '../binning/output.ts';
import { parseNonNegativeInt, parseNonNegativeNumber, parsePartyFile, parsePositiveNumber, parseThreads } from './options.ts';
import { runCommand } from './run-command.ts';

interface BinCliOptions {
  label: string;
  labelColumn: string;
  features: string[];
  id: string;
  out: string;
  bins?: string;
  method?: BinningMethod;
  minBinShare?: string;
  minIv?: string;
  seed?: string;
  idType?: BinningConfig['idType'];
  threads?: string;
  jobId?: string;
  json?: boolean;
}

export function binCommand(): Command {
  return new Command('bin')
    .description("bin every party's features and compute WOE and IV against the bank's labels, without the labels or the agencies' values leaving their party")
    .requiredOption('--label <bank.csv>', "the label party's table (IDs, the 0/1 outcome and its own features)")
    .requiredOption('--label-column <name>', 'the 0/1 outcome column of the label table')
    .requiredOption('--features <[name=]agency.csv>', "a feature party's table; repeat for several agencies (named after the file unless name= is given)", (v: string, prev: string[] = []) => [...prev, v])
    .requiredOption('--id <column>', 'the ID column, the same name in every table')
    .requiredOption('--out <dir>', 'folder for binning.json, iv.csv and screening.json')
    .option('--bins <n>', 'bins per feature before merging (default 10)')
    .addOption(new Option('--method <name>', 'how edges are placed (default quantile)').choices(['quantile', 'equal-width']))
    .option('--min-bin-share <x>', 'smallest share of aligned rows a bin may hold; smaller bins are merged with a neighbour (default 0.05)')
    .option('--min-iv <x>', 'leave features with a lower information value out of binning.json (default 0: keep all)')
    .option('--seed <text>', 'shared seed of the row order (default jinqiao)')
    .addOption(new Option('--id-type <type>', 'how to read IDs (default: decided from the data)').choices(['auto', 'uscc', 'plain']))
    .option('--threads <n>', 'worker threads (default: all cores; 0 = main thread only)')
    .option('--job-id <id>', 'job identifier (default: a fresh UUID)')
    .option('--json', 'print one JSON object with the results on stdout')
    .action((opts: BinCliOptions) =>
      runCommand(async () => {
        const result = await runBinningInProcess({
          label: { file: opts.label, idColumn: opts.id, labelColumn: opts.labelColumn },
          features: opts.features.map((spec) => ({ ...parsePartyFile(spec), idColumn: opts.id })),
          config: {
            rule: {
              ...(opts.bins !== undefined && { bins: parseNonNegativeInt('--bins', opts.bins) }),
              ...(opts.method !== undefined && { method: opts.method }),
              ...(opts.minBinShare !== undefined && { minBinShare: parsePositiveNumber('--min-bin-share', opts.minBinShare) }),
            },
            ...(opts.minIv !== undefined && { minIv: parseNonNegativeNumber('--min-iv', opts.minIv) }),
            ...(opts.seed !== undefined && { seed: opts.seed }),
            ...(opts.idType !== undefined && { idType: opts.idType }),
            ...(opts.threads !== undefined && { threads: parseThreads(opts.threads) }),
            ...(opts.jobId !== undefined && { jobId: opts.jobId }),
          },
        });
        const files = await writeBinningOutputs(opts.out, result);
        const ranked = result.parties.flatMap((p) => p.features.map((f) => ({ party: p.party, feature: f.name, iv: f.iv }))).sort((a, b) => b.iv - a.iv);
        const summary = { rows: result.rows, bads: result.bads, features: ranked.length, dropped: droppedFeatures(result), top: ranked.slice(0, 10), seconds: Math.round(result.seconds * 1000) / 1000, jobId: result.config.jobId, out: opts.out, files };
        if (opts.json) {
          process.stdout.write(JSON.stringify(summary) + '\n');
          return;
        }
        process.stdout.write(
          [
            `aligned rows: ${result.rows} (${result.bads} bad), ${ranked.length} features binned in ${summary.seconds} s`,
            ...ranked.slice(0, 10).map((r) => `  IV ${r.iv.toFixed(4)}  ${r.party}/${r.feature}`),
            ...(summary.dropped.length > 0 ? [`dropped under --min-iv ${result.config.minIv}: ${summary.dropped.map((d) => `${d.party}/${d.feature}`).join(', ')}`] : []),
            `written: ${files.join(', ')}`,
          ].join('\n') + '\n',
        );
      }),
    );
}
