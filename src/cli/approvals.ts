/**
 * `jinqiao approve` and `jinqiao reject`: an operator's decision on a job awaiting their
 * party's approval, sent to that party's service API over HTTPS, with the same client
 * options as submit and resume (--api, --token, --ca or --insecure, --cert/--key).
 */
import { Command } from 'commander';
import { userInfo } from 'node:os';
import { ERROR_CATALOGUE, JinqiaoError, type ErrorCode } from '../errors.ts';
import { requestJson, resolveApiClient, unreachableApi, withApiClientOptions, type ApiClientOptions } from './api-client.ts';
import { runCommand } from './run-command.ts';

interface DecisionOptions extends ApiClientOptions {
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
  return withApiClientOptions(new Command(action), "this party's service")
    .description(description)
    .argument('<job>', 'the job id (GET /v1/approvals lists the jobs awaiting approval)')
    .option('--operator <name>', 'who decides, for the audit log (default: the login name)')
    .action((jobId: string, opts: DecisionOptions) =>
      runCommand(async () => {
        const answer = await decide(action, jobId, opts);
        process.stdout.write(JSON.stringify(answer.job) + '\n');
      }),
    );
}

async function decide(action: 'approve' | 'reject', jobId: string, opts: DecisionOptions): Promise<{ job: unknown }> {
  const { base, token, tls } = await resolveApiClient(opts);
  const url = new URL(`v1/jobs/${encodeURIComponent(jobId)}/${action}`, base);
  const operator = opts.operator ?? userInfo().username;
  const body = { operator, ...(opts.reason === undefined ? {} : { reason: opts.reason }) };
  const { status, json } = await requestJson(url, 'POST', token, body, tls, 30_000).catch((e: Error) => Promise.reject(unreachableApi(base, e)));
  const error = (json as { error?: { code?: string; message?: string; hint?: string } }).error;
  if (error || status >= 400) {
    const code = error?.code && error.code in ERROR_CATALOGUE ? (error.code as ErrorCode) : status === 401 ? 'E_UNAUTHORIZED' : status === 404 ? 'E_NOT_FOUND' : 'E_PROTOCOL';
    throw new JinqiaoError(code, error?.message ?? `the API answered ${status}`, error?.hint ?? `check the job id with GET /v1/approvals at ${url.origin}`);
  }
  return json as { job: unknown };
}
