/**
 * The one Chromium lookup for every browser test (and for CI, which sets CI=true): the
 * browser named by JINQIAO_CHROMIUM, else the first of the usual system paths. Without
 * one, a test is skipped with the reason, except under CI=true, where a missing browser
 * is a failure: a CI run that silently skips the browser tests proves nothing about them.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

export interface ChromiumLookup {
  /** The executable to launch, when found. */
  readonly path: string | undefined;
  /** Why the browser tests are skipped (undefined when a browser was found). */
  readonly skipReason: string | undefined;
}

export function findChromium(env: NodeJS.ProcessEnv = process.env, exists: (path: string) => boolean = existsSync): ChromiumLookup {
  const named = env.JINQIAO_CHROMIUM?.trim();
  const candidates = named ? [named] : CHROMIUM_CANDIDATES;
  const path = candidates.find((p) => exists(p));
  if (path !== undefined) return { path, skipReason: undefined };
  const looked = named ? `JINQIAO_CHROMIUM=${named} does not exist` : `none of ${CHROMIUM_CANDIDATES.join(', ')} is installed`;
  if (env.CI === 'true') {
    throw new Error(`CI=true and no Chromium for the browser tests: ${looked}; install it (apt-get install chromium) or set JINQIAO_CHROMIUM to its path`);
  }
  return { path: undefined, skipReason: `${looked}; apt-get install chromium, or set JINQIAO_CHROMIUM` };
}
