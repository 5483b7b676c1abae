/** `jinqiao serve` and `jinqiao submit`: a party's long-running service, and submitting jobs to the bank's. */
import { Command } from 'commander';
import { readYamlFile } from '../data/yaml.ts';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { errors, isJinqiaoError } from '../errors.ts';
import { loadPartyConfig } from '../service/config.ts';
import { startApi } from '../service/http.ts';
import { startPartyService } from '../service/party-service.ts';
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

/**
 * Calls the bank's API; an error answer ends the command with its code (exit 2 for bad input).
 * Each request opens a connection of its own (no keep-alive socket can go stale between polls
 * on a busy machine), and a GET that meets a dropped connection is retried for up to a minute.
 */
function apiClient(base: string, tokenOption: string | undefined): ApiCall {
  const token = tokenOption ?? process.env.JINQIAO_TOKEN;
  if (!token) throw errors.optionInvalid('--token', 'no bearer token given (or set JINQIAO_TOKEN)');
  return async (method, path, body) => {
    const deadline = Date.now() + 60_000;
    for (let attempt = 1; ; attempt++) {
      try {
        const { status, json } = await requestJson(new URL(path, base), method, token, body);
        const answer = json as { error?: { code: string; message: string; hint: string }; job?: { id: string; state: string } };
        if (answer.error) {
          process.stderr.write(`jinqiao: error ${answer.error.code}: ${answer.error.message} (${answer.error.hint})\n`);
          process.exit(status === 400 ? 2 : 1);
        }
        return answer;
      } catch (e) {
        if (isJinqiaoError(e) || method !== 'GET' || Date.now() > deadline) throw isJinqiaoError(e) ? e : errors.channelClosed(base, (e as Error).message);
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * attempt)));
      }
    }
  };
}

function requestJson(url: URL, method: string, token: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method, agent: false, timeout: 60_000, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch {
          reject(errors.protocol(`${url.origin} answered ${res.statusCode} with a body that is not JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', reject);
    req.end(payload);
  });
}

async function waitForJob(call: ApiCall, job: { id: string; state: string }) {
  // A job waits in the queue or for an operator's approval before and while it runs.
  while (job.state === 'queued' || job.state === 'awaiting-approval' || job.state === 'running') {
    await new Promise((r) => setTimeout(r, 500));
    job = (await call('GET', `/v1/jobs/${encodeURIComponent(job.id)}`)).job!;
  }
  return job;
}
