/**
 * One JSON request to a party service's API, for the CLI commands that are its clients
 * (`submit`, `resume`, `approve`, `reject`): a connection of its own per request (no
 * keep-alive socket can go stale between polls), the TLS trust the caller gives, and the
 * answer's status with its JSON body. What an error means is the caller's to say.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { errors } from '../errors.ts';

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
