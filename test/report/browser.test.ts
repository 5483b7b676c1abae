/**
 * The reports as a reader sees them: rendered by a real headless Chromium (Debian's
 * /usr/bin/chromium or JINQIAO_CHROMIUM, found by test/helpers/chromium.ts, driven by
 * playwright-core, no browser download), opened from a
 * file:// URL with every network feature of the browser switched off.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLocalTraining } from '../../src/local/training.ts';
import {
  populationStabilityIndex,
  renderMonitoringReport,
  renderTrainingReport,
  summariseRun,
  thresholdCrossings,
  writeReport,
} from '../../src/report/html.ts';
import { findChromium } from '../helpers/chromium.ts';

const browser = findChromium();
const CHROMIUM = browser.path ?? '';
const haveChromium = browser.path !== undefined;
const EXAMPLE = new URL('../../examples/sme-credit/', import.meta.url).pathname;

/** Width, height and number of distinct colours of an 8-bit RGB(A) PNG, decoded with zlib only. */
function pngColours(png: Buffer): { width: number; height: number; colours: number } {
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect(data[8]).toBe(8);
      channels = data[9] === 6 ? 4 : 3;
      expect(data[12]).toBe(0);
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const previous = new Uint8Array(stride);
  const row = new Uint8Array(stride);
  const colours = new Set<number>();
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? row[i - channels]! : 0;
      const b = previous[i]!;
      const c = i >= channels ? previous[i - channels]! : 0;
      const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter]!;
      row[i] = (line[i]! + predictor) & 0xff;
    }
    for (let i = 0; i < stride; i += channels) colours.add((row[i]! << 16) | (row[i + 1]! << 8) | row[i + 2]!);
    previous.set(row);
  }
  return { width, height, colours: colours.size };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

describe.skipIf(!haveChromium)(`reports in headless Chromium${haveChromium ? '' : ` (skipped: ${browser.skipReason})`}`, () => {
  let folder: string;
  let context: BrowserContext;
  const pages = new Map<string, string>();

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'jinqiao-report-browser-'));
    const result = await runLocalTraining({
      label: { file: join(EXAMPLE, 'bank.csv'), idColumn: 'uscc', labelColumn: 'defaulted', name: 'bank' },
      features: [
        { file: join(EXAMPLE, 'tax_bureau.csv'), idColumn: 'uscc', name: 'tax-bureau' },
        { file: join(EXAMPLE, 'social_insurance.csv'), idColumn: 'uscc', name: 'social-insurance' },
      ],
      config: { he: 'mock', threads: 0, epochs: 6, batchSize: 1024, seed: 'report-browser-test', jobId: 'report-browser-test' },
    });
    pages.set('training', await writeReport(join(folder, 'training.html'), result.outputs.get('report.html')!));

    const { ids, scores } = result.predictions;
    // The next month's run: the same enterprises, somewhat riskier.
    const next = Float64Array.from(scores, (p, i) => 1 / (1 + Math.exp(-(Math.log(p / (1 - p)) + 0.25 + 0.4 * Math.sin(i)))));
    const previous = { runId: '2026-02', runAt: '2026-02-01T06:00:00Z', scores };
    const current = { runId: '2026-03', runAt: '2026-03-01T06:00:00Z', scores: next };
    pages.set(
      'monitoring',
      await writeReport(
        join(folder, 'monitoring.html'),
        renderMonitoringReport({
          bookName: 'SME working-capital loans',
          threshold: 0.3,
          previous,
          current,
          crossings: thresholdCrossings({ ids, scores }, { ids, scores: next }, 0.3),
          stability: [
            { party: 'bank', psi: populationStabilityIndex(scores, next) },
            { party: 'tax-bureau', psi: 0.06 },
            { party: 'social-insurance', psi: 0.28 },
          ],
          history: [summariseRun({ ...previous, runId: '2026-01', runAt: '2026-01-01T06:00:00Z' }, 0.3), summariseRun(previous, 0.3), summariseRun(current, 0.3)],
        }),
      ),
    );

    context = await chromium.launchPersistentContext(join(folder, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
  });

  afterAll(async () => {
    await context?.close();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('shows the whole confusion matrix in a 1200 px wide window, nothing cut off or scrolled away', async () => {
    const page = await context.newPage();
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.goto(pathToFileURL(pages.get('training')!).href, { waitUntil: 'load' });
    const matrix = await page.$$eval('table', (tables) => {
      const table = tables.find((t) => t.querySelector('caption')?.textContent?.startsWith('Confusion matrix'))!;
      const box = table.getBoundingClientRect();
      const wrap = table.parentElement!;
      const cells = [...table.querySelectorAll('th, td')].map((c) => c.getBoundingClientRect().right);
      const page = table.ownerDocument.documentElement.scrollWidth;
      return { left: box.left, right: box.right, cellsRight: Math.max(...cells), wrapRight: wrap.getBoundingClientRect().right, scrolls: wrap.scrollWidth > wrap.clientWidth, page };
    });
    expect(matrix.left).toBeGreaterThanOrEqual(0);
    expect(matrix.cellsRight).toBeLessThanOrEqual(matrix.wrapRight);
    expect(matrix.right).toBeLessThanOrEqual(1200);
    expect(matrix.scrolls).toBe(false);
    expect(matrix.page).toBeLessThanOrEqual(1200);
    await page.close();
  });

  for (const [name, charts] of [['training', 6], ['monitoring', 3]] as const) {
    it(`draws every chart of the ${name} report, with no error and no request beyond the file itself`, async () => {
      const file = pages.get(name)!;
      const url = pathToFileURL(file).href;
      const page = await context.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (r) => problems.push(`failed request: ${r.url()}`));
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(url, { waitUntil: 'load' });

      const drawn = await page.$$eval('svg.chart', (svgs) =>
        svgs.map((svg) => {
          const box = svg.getBoundingClientRect();
          const data = [...svg.querySelectorAll('.data')].filter((el) => {
            // SVG geometry: the project's TypeScript lib has no DOM types.
            const b = (el as unknown as { getBBox(): { width: number; height: number } }).getBBox();
            return (b.width > 0 || b.height > 0) && (el.tagName !== 'path' || (el.getAttribute('d') ?? '').length > 10);
          });
          return { title: svg.querySelector('title')?.textContent ?? '', width: box.width, height: box.height, data: data.length };
        }),
      );
      expect(drawn).toHaveLength(charts);
      for (const chart of drawn) {
        expect(chart.width, chart.title).toBeGreaterThan(200);
        expect(chart.height, chart.title).toBeGreaterThan(80);
        expect(chart.data, chart.title).toBeGreaterThan(0);
      }

      const screenshot = await page.screenshot({ fullPage: true });
      const { width, height, colours } = pngColours(screenshot);
      expect(width).toBe(1280);
      expect(height).toBeGreaterThan(1200);
      expect(screenshot.length).toBeGreaterThan(100_000);
      // A blank or unstyled page has a handful of colours; charts and antialiased text have thousands.
      expect(colours).toBeGreaterThan(500);

      expect(problems).toEqual([]);
      expect(requests).toEqual([url]);
      await page.close();
    });
  }
});
