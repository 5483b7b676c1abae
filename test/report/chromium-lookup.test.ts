/** The shared Chromium lookup of the browser tests (test/helpers/chromium.ts). */
import { describe, expect, it } from 'vitest';
import { CHROMIUM_CANDIDATES, findChromium } from '../helpers/chromium.ts';

const only = (...present: string[]) => (p: string) => present.includes(p);

describe('chromium lookup for the browser tests', () => {
  it('takes JINQIAO_CHROMIUM, else the first installed candidate', () => {
    expect(findChromium({ JINQIAO_CHROMIUM: '/opt/chrome/chrome' }, only('/opt/chrome/chrome', '/usr/bin/chromium'))).toEqual({ path: '/opt/chrome/chrome', skipReason: undefined });
    expect(findChromium({}, only(CHROMIUM_CANDIDATES[1]!, CHROMIUM_CANDIDATES[2]!)).path).toBe(CHROMIUM_CANDIDATES[1]);
  });

  it('skips with the reason outside CI', () => {
    const r = findChromium({}, only());
    expect(r.path).toBeUndefined();
    expect(r.skipReason).toMatch(/none of \/usr\/bin\/chromium.* is installed; apt-get install chromium/);
    expect(findChromium({ JINQIAO_CHROMIUM: '/nope', CI: 'false' }, only('/usr/bin/chromium')).skipReason).toMatch(/JINQIAO_CHROMIUM=\/nope does not exist/);
  });

  it('fails under CI=true when no browser is found, instead of skipping', () => {
    expect(() => findChromium({ CI: 'true' }, only())).toThrow(/CI=true and no Chromium for the browser tests/);
    expect(() => findChromium({ CI: 'true', JINQIAO_CHROMIUM: '/nope' }, only('/usr/bin/chromium'))).toThrow(/JINQIAO_CHROMIUM=\/nope does not exist/);
    expect(findChromium({ CI: 'true' }, only('/usr/bin/chromium')).path).toBe('/usr/bin/chromium');
  });
});
