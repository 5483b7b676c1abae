/** scorecard.json, the points scale stored with a scorecard: written and read back exactly; a bad file is refused naming it and the field. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scorecardScaleJson } from '../../src/binning/scorecard.ts';
import { loadScorecardScale } from '../../src/binning/scorecard-training.ts';
import { scorecard } from '../../src/report/scorecard.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-scorecard-scale-'));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('scorecard.json', () => {
  it('reads back the scale it was written with', async () => {
    const card = scorecard({ baseScore: 480.5, baseOdds: 12, pdo: 35 });
    const read = await loadScorecardScale(file('scale.json', scorecardScaleJson(card)));
    expect({ baseScore: read.baseScore, baseOdds: read.baseOdds, pdo: read.pdo, factor: read.factor, offset: read.offset }).toEqual({ baseScore: 480.5, baseOdds: 12, pdo: 35, factor: card.factor, offset: card.offset });
  });

  it.each([
    ['not-json.json', '{', /not-json\.json: not JSON/],
    ['kind.json', JSON.stringify({ kind: 'jinqiao.model-slice', version: 1, baseScore: 600, baseOdds: 50, pdo: 20 }), /kind\.json: not a scorecard scale/],
    ['version.json', JSON.stringify({ kind: 'jinqiao.scorecard-scale', version: 2, baseScore: 600, baseOdds: 50, pdo: 20 }), /version\.json: version 2 is not supported/],
    ['missing.json', JSON.stringify({ kind: 'jinqiao.scorecard-scale', version: 1, baseScore: 600, baseOdds: 50 }), /missing\.json: pdo must be a number/],
    ['negative.json', JSON.stringify({ kind: 'jinqiao.scorecard-scale', version: 1, baseScore: 600, baseOdds: 50, pdo: -20 }), /negative\.json: option scorecard\.pdo: must be a positive number of points, got -20/],
  ])('refuses %s, naming the file and what is wrong', async (name, text, message) => {
    await expect(loadScorecardScale(file(name, text))).rejects.toMatchObject({ code: 'E_MODEL_INVALID', message: expect.stringMatching(message) });
  });
});
