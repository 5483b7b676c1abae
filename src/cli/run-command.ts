/**
 * How every command ends: a JinqiaoError becomes one line on stderr (what, where, what to
 * do) and exit code 2 for bad input or 1 otherwise; never a stack trace. An unexpected
 * error says it is a bug and where to report it, with the stack only under JINQIAO_DEBUG.
 */
import { isJinqiaoError } from '../errors.ts';

export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    if (isJinqiaoError(e)) {
      process.stderr.write(`jinqiao: error ${e.code}: ${e.message} (${e.hint})\n`);
      process.exitCode = e.isInputError ? 2 : 1;
      return;
    }
    const detail = process.env.JINQIAO_DEBUG ? `\n${(e as Error).stack}` : ' (set JINQIAO_DEBUG=1 for the stack)';
    process.stderr.write(`jinqiao: internal error: ${(e as Error).message ?? String(e)}${detail}\n`);
    process.exitCode = 1;
  }
}
