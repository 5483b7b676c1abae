/** `jinqiao serve` and `jinqiao submit`: a party's long-running service, and submitting jobs to the bank's. */
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { consoleForApi } from '../console/mount.ts';
import { readYamlFile } from '../data/yaml.ts';
import { errors, isJinqiaoError } from '../errors.ts';
import { loadPartyConfig } from '../service/config.ts';
import { startApi } from '../service/api/server.ts';
import { startPartyService } from '../service/party-service.ts';
import { isCertificateFailure, requestJson, resolveApiClient, unreachableApi, withApiClientOptions, type ApiClient, type ApiClientOptions } from './api-client.ts';
import { runCommand } from './run-command.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description("run this party's service (bank, agency or platform) from its config, and its HTTPS API when the config has api:")
    .requiredOption('--config <file>', 'the party config (YAML or JSON): name, role, listen, tls, partners, tables, store, api')
    .action((opts: { config: string }) =>
      runCommand(async () => {
        const config = await loadPartyConfig(opts.config);
        const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${config.name}: ${line}\n`);
        const service = await startPartyService(config, log);
        // The operators' console at the API's root (/), over the same TLS; its session cookie also opens the API.
        // Its scoring page shows the runs `jinqiao monitor --runs <store>/monitoring` keeps there.
        const operatorsConsole = config.api ? consoleForApi(service, config.api.token, { monitoringDir: join(config.store, 'monitoring') }) : undefined;
        const api = config.api
          ? await startApi(service, {
              listen: config.api.listen,
              token: config.api.token,
              beforeRoutes: operatorsConsole!.beforeRoutes,
              authenticate: operatorsConsole!.authenticate,
              // The party's own key and certificate; client certificates (when asked for) must chain to api.clientCa, else to the partners it trusts.
              tls: {
                key: await readFile(config.tls.key),
                cert: await readFile(config.tls.cert),
                ca: await Promise.all((config.api.clientCa ?? config.tls.trust).map((f) => readFile(f))),
                clientCerts: config.api.clientCerts,
              },
              limits: { rateMax: config.api.requestsPerMinute, rateWindowMs: 60_000 },
              log,
            })
          : undefined;
        if (api) log(`HTTPS API on ${config.api!.listen.host}:${api.port} (client certificates ${config.api!.clientCerts})`);
        // One line on stdout when ready, for supervisors and tests.
        process.stdout.write(JSON.stringify({ ready: true, party: config.name, tlsPort: service.tlsPort, apiPort: api?.port ?? null }) + '\n');
        await new Promise<void>((resolve) => {
          process.once('SIGTERM', resolve);
          process.once('SIGINT', resolve);
        });
        await api?.close();
        operatorsConsole?.close();
        await service.close();
      }),
    );
}

export function submitCommand(): Command {
  return withApiClientOptions(new Command('submit'), "the bank's")
    .description("submit a job (YAML or JSON definition: label table, feature parties and tables, training) to the bank's service")
    .argument('<job-file>', 'the job definition')
    .option('--wait', 'wait until the job ends and print its final state')
    .action((file: string, opts: ApiClientOptions & { wait?: boolean }) =>
      runCommand(async () => {
        const call = apiCaller(await resolveApiClient(opts));
        let { job } = await call('POST', '/v1/jobs', await readYamlFile(file));
        if (opts.wait) job = await waitForJob(call, job!);
        process.stdout.write(JSON.stringify(job) + '\n');
        if (opts.wait && job!.state !== 'succeeded') process.exitCode = 1;
      }),
    );
}

export function resumeCommand(): Command {
  return withApiClientOptions(new Command('resume'), "the bank's")
    .description("rerun a failed or cancelled job on the bank's service (encrypted weights are bound to the arbiter's per-run key, so training restarts from the first epoch)")
    .argument('<job>', 'the job id')
    .option('--operator <name>', 'who resumes it, for the audit log (default: the login name)')
    .option('--wait', 'wait until the job ends and print its final state')
    .action((jobId: string, opts: ApiClientOptions & { operator?: string; wait?: boolean }) =>
      runCommand(async () => {
        const call = apiCaller(await resolveApiClient(opts));
        let { job } = await call('POST', `/v1/jobs/${encodeURIComponent(jobId)}/resume`, { operator: opts.operator ?? userInfo().username });
        if (opts.wait) job = await waitForJob(call, job!);
        process.stdout.write(JSON.stringify(job) + '\n');
        if (opts.wait && job!.state !== 'succeeded') process.exitCode = 1;
      }),
    );
}

type ApiCall = (method: string, path: string, body?: unknown) => Promise<{ job?: { id: string; state: string } }>;

/**
 * Calls a party's API; an error answer ends the command with its code (exit 2 for bad input).
 * Each request opens a connection of its own (no keep-alive socket can go stale between polls
 * on a busy machine), and a GET that meets a dropped connection is retried for up to a minute.
 */
function apiCaller({ base, token, tls }: ApiClient): ApiCall {
  return async (method, path, body) => {
    const deadline = Date.now() + 60_000;
    for (let attempt = 1; ; attempt++) {
      try {
        const { status, json } = await requestJson(new URL(path.replace(/^\//, ''), base), method, token, body, tls, 60_000);
        const answer = json as { error?: { code: string; message: string; hint: string }; job?: { id: string; state: string } };
        if (answer.error) {
          process.stderr.write(`jinqiao: error ${answer.error.code}: ${answer.error.message} (${answer.error.hint})\n`);
          process.exit(status === 400 ? 2 : 1);
        }
        return answer;
      } catch (e) {
        if (isJinqiaoError(e) || isCertificateFailure(e) || method !== 'GET' || Date.now() > deadline) throw unreachableApi(base, e as Error);
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * attempt)));
      }
    }
  };
}

async function waitForJob(call: ApiCall, job: { id: string; state: string }) {
  // A job waits in the queue or for an operator's approval before and while it runs.
  while (job.state === 'queued' || job.state === 'awaiting-approval' || job.state === 'running') {
    await new Promise((r) => setTimeout(r, 500));
    job = (await call('GET', `/v1/jobs/${encodeURIComponent(job.id)}`)).job!;
  }
  return job;
}
