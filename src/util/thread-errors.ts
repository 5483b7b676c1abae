/**
 * Errors across a worker thread (jobs/role-threads.ts, the PSI pool's workers): a structured clone of an Error keeps its
 * message but not its class, so a JinqiaoError goes as its fields and is made again on the
 * other side, with the same code, message, hint, location and field, and what a factory
 * added (`causedByPeer`, `rule`, `retryAfterSeconds`). Any other error keeps its message (a
 * host reports it as E_INTERNAL, as it would have in one thread).
 */
import { isJinqiaoError, JinqiaoError } from '../errors.ts';
import type { ThreadError } from '../../workers/tasks.ts';

export function threadErrorOf(e: unknown): ThreadError {
  if (isJinqiaoError(e)) {
    const { name: _name, code, hint, location, field, ...extras } = e as JinqiaoError & Record<string, unknown>;
    return { jinqiao: true, code, message: e.message, hint, ...(location && { location }), ...(field !== undefined && { field }), extras };
  }
  return { jinqiao: false, message: e instanceof Error ? e.message : String(e) };
}

export function threadError(e: ThreadError): Error {
  return e.jinqiao ? Object.assign(new JinqiaoError(e.code, e.message, e.hint, e.location, e.field), e.extras) : new Error(e.message);
}
