/**
 * The one bound on worker threads: the machine's cores. More threads than cores only adds
 * a V8 isolate (and, for HE, a SEAL context) per thread; 999 threads on a 12 KB file took
 * 186 s and 19 GB.
 */
import { availableParallelism } from 'node:os';
import { errors } from '../errors.ts';

/** Checks a thread count (0 = the main thread only) against the cores; `field` names the option. */
export function checkThreads(field: string, threads: number): number {
  if (!Number.isInteger(threads) || threads < 0) throw errors.optionInvalid(field, `must be a whole number, got ${String(threads)}`);
  const cores = availableParallelism();
  if (threads > cores) {
    throw errors.optionInvalid(
      field,
      `${threads} is more than this machine's ${cores} core${cores === 1 ? '' : 's'}`,
      `pass ${cores} or fewer, or leave ${field} out to use every core`,
    );
  }
  return threads;
}
