/** `jinqiao serve` and `jinqiao submit`: a party's long-running service, and submitting jobs to the bank's. */
import { Command } from 'commander';
import { readYamlFile } from '../data/yaml.ts';
import { errors } from '../errors.ts';
import { loadPartyConfig } from '../node/config.ts';
import { startApi } from '../node/http.ts';
import { startPartyService } from '../node/service.ts';
import { runCommand } from './run-command.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description("run this party's service (bank, agency or platform) from its config; the bank's also serves the HTTP API")
    .requiredOption('--config <file>', 'the party config (YAML or JSON): name, role, listen, tls, partners, tables, store, api')
    .action((opts: { config: string }) =>
      runCommand(async () => {
        const config = await loadPartyConfig(opts.config);
        const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${config.name}: ${line}\n`);
        const service = await startPartyService(config, log);
        const api = config.api ? await startApi(service, config.api.listen, config.api.token) : undefined;
        if (api) log(`HTTP API on ${config.api!.listen.host}:${api.port}`);
        // One line on stdout when ready, for supervisors and tests.
        process.stdout.write(JSON.stringify({ ready: true, party: config.name, tlsPort: service.tlsPort, apiPort: api?.port ?? null }) + '\n');
        await new Promise<void>((resolve) => {
          process.once('SIGTERM', resolve);
          process.once('SIGINT', resolve);
        });
        await api?.close();
        await service.close();
      }),
    );
}

export function submitCommand(): Command {
  return new Command('submit')
    .description("submit a job (YAML or JSON definition: label table, feature parties and tables, training) to the bank's service")
    .argument('<job-file>', 'the job definition')
    .requiredOption('--to <url>', "the bank's HTTP API, e.g. http://127.0.0.1:8401")
    .option('--token <token>', 'bearer token (default: $JINQIAO_TOKEN)')
    .option('--wait', 'wait until the job ends and print its final state')
    .action((file: string, opts: { to: string; token?: string; wait?: boolean }) =>
      runCommand(async () => {
        const call = apiClient(opts.to, opts.token);
        let { job } = await call('POST', '/v1/jobs', await readYamlFile(file));
        if (opts.wait) job = await waitForJob(call, job!);
        process.stdout.write(JSON.stringify(job) + '\n');
        if (opts.wait && job!.state !== 'succeeded') process.exitCode = 1;
      }),
    );
}

export function resumeCommand(): Command {
  return new Command('resume')
    .description("rerun a failed or cancelled job on the bank's service (encrypted weights are bound to the arbiter's per-run key, so training restarts from the first epoch)")
    .argument('<job>', 'the job id')
    .requiredOption('--to <url>', "the bank's HTTP API, e.g. http://127.0.0.1:8401")
    .option('--token <token>', 'bearer token (default: $JINQIAO_TOKEN)')
    .option('--wait', 'wait until the job ends and print its final state')
    .action((jobId: string, opts: { to: string; token?: string; wait?: boolean }) =>
      runCommand(async () => {
        const call = apiClient(opts.to, opts.token);
        let { job } = await call('POST', `/v1/jobs/${encodeURIComponent(jobId)}/resume`);
        if (opts.wait) job = await waitForJob(call, job!);
        process.stdout.write(JSON.stringify(job) + '\n');
        if (opts.wait && job!.state !== 'succeeded') process.exitCode = 1;
      }),
    );
}

type ApiCall = (method: string, path: string, body?: unknown) => Promise<{ job?: { id: string; state: string } }>;

/** Calls the bank's API; an error answer ends the command with its code (exit 2 for bad input). */
function apiClient(base: string, tokenOption: string | undefined): ApiCall {
  const token = tokenOption ?? process.env.JINQIAO_TOKEN;
  if (!token) throw errors.optionInvalid('--token', 'no bearer token given (or set JINQIAO_TOKEN)');
  return async (method, path, body) => {
    const res = await fetch(new URL(path, base), { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }).catch((e: Error) => {
      throw errors.channelClosed(base, e.message);
    });
    const json = (await res.json()) as { error?: { code: string; message: string; hint: string }; job?: { id: string; state: string } };
    if (json.error) {
      process.stderr.write(`jinqiao: error ${json.error.code}: ${json.error.message} (${json.error.hint})\n`);
      process.exit(res.status === 400 ? 2 : 1);
    }
    return json;
  };
}

async function waitForJob(call: ApiCall, job: { id: string; state: string }) {
  while (job.state === 'queued' || job.state === 'running') {
    await new Promise((r) => setTimeout(r, 500));
    job = (await call('GET', `/v1/jobs/${encodeURIComponent(job.id)}`)).job!;
  }
  return job;
}
