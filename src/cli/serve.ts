/** `jinqiao serve` and `jinqiao submit`: a party's long-running service, and submitting jobs to the bank's. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { consoleForApi } from '../console/mount.ts';
import { readYamlFile } from '../data/yaml.ts';
import { errors, isJinqiaoError } from '../errors.ts';
import { loadPartyConfig } from '../service/config.ts';
import { startApi } from '../service/api/server.ts';
import { startPartyService } from '../service/party-service.ts';
import { requestJson, type TlsClient } from './api-client.ts';
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
  return apiClientOptions(new Command('submit'))
    .description("submit a job (YAML or JSON definition: label table, feature parties and tables, training) to the bank's service")
    .argument('<job-file>', 'the job definition')
    .requiredOption('--to <url>', "the bank's HTTPS API, e.g. https://127.0.0.1:8401")
    .option('--token <token>', 'bearer token (default: $JINQIAO_TOKEN)')
    .option('--wait', 'wait until the job ends and print its final state')
    .action((file: string, opts: ApiClientOptions & { wait?: boolean }) =>
      runCommand(async () => {
        const call = await apiClient(opts);
        let { job } = await call('POST', '/v1/jobs', await readYamlFile(file));
        if (opts.wait) job = await waitForJob(call, job!);
        process.stdout.write(JSON.stringify(job) + '\n');
        if (opts.wait && job!.state !== 'succeeded') process.exitCode = 1;
      }),
    );
}

export function resumeCommand(): Command {
  return apiClientOptions(new Command('resume'))
    .description("rerun a failed or cancelled job on the bank's service (encrypted weights are bound to the arbiter's per-run key, so training restarts from the first epoch)")
    .argument('<job>', 'the job id')
    .requiredOption('--to <url>', "the bank's HTTPS API, e.g. https://127.0.0.1:8401")
    .option('--token <token>', 'bearer token (default: $JINQIAO_TOKEN)')
    .option('--wait', 'wait until the job ends and print its final state')
    .action((jobId: string, opts: ApiClientOptions & { wait?: boolean }) =>
      runCommand(async () => {
        const call = await apiClient(opts);
        let { job } = await call('POST', `/v1/jobs/${encodeURIComponent(jobId)}/resume`);
        if (opts.wait) job = await waitForJob(call, job!);
        process.stdout.write(JSON.stringify(job) + '\n');
        if (opts.wait && job!.state !== 'succeeded') process.exitCode = 1;
      }),
    );
}

type ApiCall = (method: string, path: string, body?: unknown) => Promise<{ job?: { id: string; state: string } }>;

interface ApiClientOptions {
  readonly to: string;
  readonly token?: string;
  readonly ca?: string;
  readonly insecure?: boolean;
  readonly cert?: string;
  readonly key?: string;
}

/** How a client reaches a party's API: HTTPS only, trusting the party's certificate (or CA), or anything with --insecure. */
function apiClientOptions(command: Command): Command {
  return command
    .option('--ca <pem>', "the party's certificate or its CA (PEM) to trust for its API (default: the system's CAs)")
    .option('--insecure', "accept any certificate (a self-signed party certificate you have not got a copy of; like curl -k)")
    .option('--cert <pem>', 'a client certificate, for a service whose api.clientCerts is optional or required')
    .option('--key <pem>', 'the key of --cert');
}

/** TLS verification failures: retrying cannot help, the client must be told whom to trust. */
const CERTIFICATE_ERRORS = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA']);

/**
 * Calls a party's API; an error answer ends the command with its code (exit 2 for bad input).
 * Each request opens a connection of its own (no keep-alive socket can go stale between polls
 * on a busy machine), and a GET that meets a dropped connection is retried for up to a minute.
 */
async function apiClient(opts: ApiClientOptions): Promise<ApiCall> {
  const token = opts.token ?? process.env.JINQIAO_TOKEN;
  if (!token) throw errors.optionInvalid('--token', 'no bearer token given (or set JINQIAO_TOKEN)');
  let base: URL;
  try {
    base = new URL(opts.to);
  } catch {
    throw errors.optionInvalid('--to', `${JSON.stringify(opts.to)} is not a URL`, 'give the API as https://host:port');
  }
  if (base.protocol !== 'https:') throw errors.optionInvalid('--to', `${base.protocol}// is not served: the API speaks HTTPS only`, `use https://${base.host}`);
  if ((opts.cert === undefined) !== (opts.key === undefined)) throw errors.optionInvalid(opts.cert ? '--key' : '--cert', 'a client certificate needs both --cert and --key');
  const read = async (file: string, option: string) => readFile(file).catch((e: Error) => Promise.reject(errors.optionInvalid(option, `cannot read ${file}: ${e.message}`)));
  const tls: TlsClient = {
    ...(opts.ca ? { ca: await read(opts.ca, '--ca') } : {}),
    ...(opts.cert && opts.key ? { cert: await read(opts.cert, '--cert'), key: await read(opts.key, '--key') } : {}),
    rejectUnauthorized: !opts.insecure,
  };
  return async (method, path, body) => {
    const deadline = Date.now() + 60_000;
    for (let attempt = 1; ; attempt++) {
      try {
        const { status, json } = await requestJson(new URL(path, base), method, token, body, tls, 60_000);
        const answer = json as { error?: { code: string; message: string; hint: string }; job?: { id: string; state: string } };
        if (answer.error) {
          process.stderr.write(`jinqiao: error ${answer.error.code}: ${answer.error.message} (${answer.error.hint})\n`);
          process.exit(status === 400 ? 2 : 1);
        }
        return answer;
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code && CERTIFICATE_ERRORS.has(code)) {
          throw errors.peerUntrusted(base.host, `${(e as Error).message}: pass the party's certificate or CA with --ca <pem> (or --insecure to accept any), and --cert/--key where it asks for a client certificate`);
        }
        if (isJinqiaoError(e) || method !== 'GET' || Date.now() > deadline) throw isJinqiaoError(e) ? e : errors.channelClosed(base.origin, (e as Error).message);
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
