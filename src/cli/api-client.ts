/**
 * One JSON request to a party service's API, for the CLI commands that are its clients
 * (`submit`, `resume`, `approve`, `reject`): a connection of its own per request (no
 * keep-alive socket can go stale between polls), the TLS trust the caller gives, and the
 * answer's status with its JSON body. What an error means is the caller's to say.
 */
import { readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Option, type Command } from 'commander';
import { errors, isJinqiaoError, JinqiaoError } from '../errors.ts';

export interface TlsClient {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly rejectUnauthorized: boolean;
}

/** Sends `body` (if any) as JSON to `url` (https:, or http: where the caller allows it) and parses the answer as JSON. */
export function requestJson(url: URL, method: string, token: string, body: unknown, tls: TlsClient, timeoutMs: number): Promise<{ status: number; json: unknown }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(payload === undefined ? {} : { 'content-length': Buffer.byteLength(payload) }) };
  const options = { method, agent: false as const, timeout: timeoutMs, headers };
  return new Promise((resolve, reject) => {
    const onAnswer = (res: IncomingMessage) => {
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
    };
    const req = url.protocol === 'https:' ? httpsRequest(url, { ...options, ...tls }, onAnswer) : httpRequest(url, options, onAnswer);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The options every API client command takes (submit, resume, approve, reject). */
export interface ApiClientOptions {
  readonly api?: string;
  /** The name submit and resume first had for --api; kept so existing scripts still run. */
  readonly to?: string;
  readonly token?: string;
  readonly ca?: string;
  readonly insecure?: boolean;
  readonly cert?: string;
  readonly key?: string;
}

/** Adds the API client options to a command: where the API is, the bearer token, and whom to trust over HTTPS. */
export function withApiClientOptions(command: Command, whose: string): Command {
  return command
    .option('--api <url>', `${whose} HTTPS API, e.g. https://127.0.0.1:8401`)
    .addOption(new Option('--to <url>', 'the same as --api').hideHelp())
    .option('--token <token>', 'bearer token (default: $JINQIAO_TOKEN)')
    .option('--ca <pem>', "the party's certificate or its CA (PEM) to trust for its API (default: the system's CAs)")
    .option('--insecure', 'accept any certificate (a self-signed party certificate you have not got a copy of; like curl -k)')
    .option('--cert <pem>', 'a client certificate, for a service whose api.clientCerts is optional or required')
    .option('--key <pem>', 'the key of --cert');
}

export interface ApiClient {
  /** The API's origin, e.g. https://127.0.0.1:8401/ */
  readonly base: URL;
  readonly token: string;
  readonly tls: TlsClient;
}

/** Checks the client options (HTTPS only, a token, both or neither of --cert and --key) and reads the PEM files they name. */
export async function resolveApiClient(opts: ApiClientOptions): Promise<ApiClient> {
  if (opts.api !== undefined && opts.to !== undefined) throw errors.optionInvalid('--to', 'is another name for --api: give one of them');
  const given = opts.api ?? opts.to;
  if (given === undefined) throw errors.optionInvalid('--api', "is required: the party service's API, e.g. https://127.0.0.1:8401");
  const option = opts.api !== undefined ? '--api' : '--to';
  let base: URL;
  try {
    base = new URL(given.endsWith('/') ? given : `${given}/`);
  } catch {
    throw errors.optionInvalid(option, `${JSON.stringify(given)} is not a URL`, 'give the API as https://host:port');
  }
  if (base.protocol !== 'https:') throw errors.optionInvalid(option, `${base.protocol}// is not served: the API speaks HTTPS only`, `use https://${base.host}`);
  const token = opts.token ?? process.env.JINQIAO_TOKEN;
  if (!token) throw errors.optionInvalid('--token', 'no bearer token given (or set JINQIAO_TOKEN)');
  if (opts.ca && opts.insecure) throw errors.optionInvalid('--insecure', 'give --ca or --insecure, not both');
  if ((opts.cert === undefined) !== (opts.key === undefined)) throw errors.optionInvalid(opts.cert ? '--key' : '--cert', 'a client certificate needs both --cert and --key');
  const read = async (file: string, flag: string) => readFile(file).catch((e: Error) => Promise.reject(errors.optionInvalid(flag, `cannot read ${file}: ${e.message}`)));
  const tls: TlsClient = {
    ...(opts.ca ? { ca: await read(opts.ca, '--ca') } : {}),
    ...(opts.cert && opts.key ? { cert: await read(opts.cert, '--cert'), key: await read(opts.key, '--key') } : {}),
    rejectUnauthorized: !opts.insecure,
  };
  return { base, token, tls };
}

/**
 * Whether a request failed because of a certificate (the API's, or the client certificate it
 * asked for): retrying cannot help, the operator must be told whom to trust. Node's codes:
 * OpenSSL's verification results (CERT_*, *SELF_SIGNED*, UNABLE_TO_*), the host name check,
 * and the alerts a server sends about the client's certificate.
 */
export function isCertificateFailure(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT|ERR_TLS_CERT_|ERR_SSL_.*(CERTIFICATE|UNKNOWN_CA))/.test(code);
}

/** What a client reports when it cannot make a request: whom to trust, or that the API cannot be reached. */
export function unreachableApi(base: URL, e: Error): JinqiaoError {
  if (isJinqiaoError(e)) return e;
  if (isCertificateFailure(e)) {
    return errors.peerUntrusted(base.origin, `${e.message}: pass the party's certificate or CA with --ca <pem> (or --insecure to accept any), and --cert/--key where it asks for a client certificate`);
  }
  return new JinqiaoError('E_CHANNEL_CLOSED', `cannot reach the API at ${base.origin}: ${e.message}`, 'check --api (scheme, host and port) and that the service runs with its API enabled');
}
