/**
 * `jinqiao approve` and `jinqiao reject`: an operator's decision on a job awaiting their
 * party's approval, sent to that party's service API (http:// or https://; for https, the
 * service's certificate is checked against --ca, or not at all under --insecure).
 */
import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { errors, ERROR_CATALOGUE, isJinqiaoError, JinqiaoError, type ErrorCode } from '../errors.ts';
import { requestJson } from './api-client.ts';
import { runCommand } from './run-command.ts';

interface DecisionOptions {
  readonly api: string;
  readonly token?: string;
  readonly ca?: string;
  readonly insecure?: boolean;
  readonly operator?: string;
  readonly reason?: string;
}

export function approveCommand(): Command {
  return decisionCommand('approve', "approve a job awaiting this party's approval (audited before the job moves on)").option('--reason <text>', 'why, for the audit log');
}

export function rejectCommand(): Command {
  return decisionCommand('reject', "reject a job awaiting this party's approval: it fails at every party with the reason").requiredOption('--reason <text>', 'why: every party of the job is told');
}

function decisionCommand(action: 'approve' | 'reject', description: string): Command {
  return new Command(action)
    .description(description)
    .argument('<job>', 'the job id (GET /v1/approvals lists the jobs awaiting approval)')
    .requiredOption('--api <url>', "this party's service API, e.g. https://127.0.0.1:8401")
    .option('--token <token>', 'bearer token (default: $JINQIAO_TOKEN)')
    .option('--ca <pem>', "the certificate (PEM) the API's certificate must chain to")
    .option('--insecure', "do not check the API's certificate (tests only)")
    .option('--operator <name>', 'who decides, for the audit log (default: the login name)')
    .action((jobId: string, opts: DecisionOptions) =>
      runCommand(async () => {
        const answer = await decide(action, jobId, opts);
        process.stdout.write(JSON.stringify(answer.job) + '\n');
      }),
    );
}

async function decide(action: 'approve' | 'reject', jobId: string, opts: DecisionOptions): Promise<{ job: unknown }> {
  let url: URL;
  try {
    url = new URL(`v1/jobs/${encodeURIComponent(jobId)}/${action}`, opts.api.endsWith('/') ? opts.api : `${opts.api}/`);
  } catch {
    throw errors.optionInvalid('--api', `${JSON.stringify(opts.api)} is not a URL`, 'give the API as http(s)://host:port');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw errors.optionInvalid('--api', `must be an http:// or https:// URL, got ${url.protocol}`);
  const token = opts.token ?? process.env.JINQIAO_TOKEN;
  if (!token) throw errors.optionInvalid('--token', 'no bearer token given (or set JINQIAO_TOKEN)');
  if (opts.ca && opts.insecure) throw errors.optionInvalid('--insecure', 'give --ca or --insecure, not both');
  if (url.protocol === 'http:' && (opts.ca || opts.insecure)) throw errors.optionInvalid(opts.ca ? '--ca' : '--insecure', 'applies to an https:// API only');
  const ca = opts.ca ? await readFile(opts.ca).catch((e: Error) => Promise.reject(errors.fileUnreadable(opts.ca!, e.message))) : undefined;
  const operator = opts.operator ?? userInfo().username;
  const body = { operator, ...(opts.reason === undefined ? {} : { reason: opts.reason }) };
  const tls = { ...(ca ? { ca } : {}), rejectUnauthorized: opts.insecure !== true };
  const { status, json } = await requestJson(url, 'POST', token, body, tls, 30_000).catch((e: Error) => Promise.reject(isJinqiaoError(e) ? e : unreachable(url, e)));
  const error = (json as { error?: { code?: string; message?: string; hint?: string } }).error;
  if (error || status >= 400) {
    const code = error?.code && error.code in ERROR_CATALOGUE ? (error.code as ErrorCode) : status === 401 ? 'E_UNAUTHORIZED' : status === 404 ? 'E_NOT_FOUND' : 'E_PROTOCOL';
    throw new JinqiaoError(code, error?.message ?? `the API answered ${status}`, error?.hint ?? `check the job id with GET /v1/approvals at ${url.origin}`);
  }
  return json as { job: unknown };
}

function unreachable(url: URL, e: Error & { code?: string }): JinqiaoError {
  if (e.code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(e.code)) {
    return errors.peerUntrusted(url.origin, `${e.message}: give the certificate it chains to with --ca <pem> (or --insecure for a test setup)`);
  }
  return new JinqiaoError('E_CHANNEL_CLOSED', `cannot reach the API at ${url.origin}: ${e.message}`, 'check --api (scheme, host and port) and that the service runs with its API enabled');
}
