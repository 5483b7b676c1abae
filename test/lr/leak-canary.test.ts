/**
 * The training leak canary: every byte on every channel (bank ↔ agency, each party ↔
 * arbiter) is recorded and searched for planted plaintext.
 *
 * The needles follow what the encrypted-model protocol (src/lr/encrypted-model.ts) works
 * with, not only what the files hold: labels in file order, in the aligned (canonical)
 * order and in every epoch's batch order, as bytes, 64-bit floats, ±1 and the residual's
 * plaintext term (½ − y)/√n; the standardised feature values each party computes; and, in a
 * mock-HE run where the values are exact and readable, every residual and partial score the
 * parties exchange. In that mock run every value the arbiter receives or returns must be
 * masked: outside the declared bound, spread over the mask's range.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadFeatureTable } from '../../src/data/table.ts';
import { ENCRYPTED_MODEL_PARAMS } from '../../src/he/params.ts';
import { maskBoundFor } from '../../src/he/masking.ts';
import { runLocalTraining, type LocalTrainingResult } from '../../src/local/training.ts';
import { OFFSET } from '../../src/lr/encrypted-model.ts';
import { preparePartyData, type PartyData } from '../../src/lr/party-data.ts';
import { sigmoid } from '../../src/lr/sigmoid.ts';
import { epochBatches, splitTrainValidation } from '../../src/lr/split.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { findNeedles } from '../helpers/canary.ts';
import { uscc } from '../helpers/ids.ts';
import { FATE_DATA_DIR } from '../helpers/plaintext-lr.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-train-canary-'));
const CANARY_GUEST = '31415.926535';
const CANARY_HOST = '-27182.818284';
const MOCK_TAG = Buffer.from('JQMOCK01');

/** FATE's breast data with USCC IDs and two planted, unmistakable feature values. */
function plant(file: string, canary: string, row: number, column: number): { path: string; rows: string[][] } {
  const lines = readFileSync(join(FATE_DATA_DIR, file), 'utf8').trim().split('\n');
  const rows = lines.slice(1).map((l) => l.split(','));
  for (const r of rows) r[0] = uscc(5000 + Number(r[0]));
  rows[row]![column] = canary;
  const path = join(dir, file);
  writeFileSync(path, [lines[0], ...rows.map((r) => r.join(','))].join('\n') + '\n');
  return { path, rows };
}

function f64(value: number, littleEndian = true): Buffer {
  const b = Buffer.alloc(8);
  if (littleEndian) b.writeDoubleLE(value);
  else b.writeDoubleBE(value);
  return b;
}

const f64s = (values: ArrayLike<number>): Buffer => Buffer.concat(Array.from(values, (v) => f64(v)));

/** A value worth searching for as a lone 8-byte float: not 0, ±1 or a small integer, which occur in any encoding. */
const distinctive = (v: number): boolean => Number.isFinite(v) && !(Number.isInteger(v) && Math.abs(v) <= 64);

/** What each party computed: the aligned order rebuilt from the job's outputs, and each party's standardised data. */
interface Replayed {
  readonly alignedIds: readonly string[];
  readonly label: PartyData;
  readonly host: PartyData;
  /** Labels in the aligned order. */
  readonly y: Uint8Array;
}

async function replay(r: LocalTrainingResult, guestPath: string, hostPath: string): Promise<Replayed> {
  // The split is rebuilt from the seed; trainIds and the predictions' IDs are the train and
  // validation positions of the aligned order, ascending (src/jobs/training.ts).
  const n = r.alignedRows;
  const split = splitTrainValidation(n, r.config.seed, { validationFraction: r.config.validationFraction });
  const alignedIds = new Array<string>(n);
  split.train.forEach((p, k) => (alignedIds[p] = r.trainIds[k]!));
  split.validation.forEach((p, k) => (alignedIds[p] = r.predictions.ids[k]!));
  const guest = await loadFeatureTable(guestPath, { idColumn: 'id', labelColumn: 'y' });
  const host = await loadFeatureTable(hostPath, { idColumn: 'id' });
  const rowsOf = (ids: readonly string[]) => {
    const index = new Map(ids.map((id, i) => [id, i]));
    return Uint32Array.from(alignedIds, (id) => index.get(id)!);
  };
  const guestRows = rowsOf(guest.ids);
  return {
    alignedIds,
    label: preparePartyData(guest, guestRows, r.config, true),
    host: preparePartyData(host, rowsOf(host.ids), r.config, false),
    y: Uint8Array.from(guestRows, (row) => guest.labels![row]!),
  };
}

/** Windows of 16 labels in a given order, as bytes, 64-bit floats and ±1 floats. */
function labelNeedles(name: string, labels: ArrayLike<number>): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (let start = 0; start + 16 <= labels.length; start += 16) {
    const window = Array.from(labels).slice(start, start + 16);
    out.push(
      [`${name} labels ${start} u8`, Buffer.from(window)],
      [`${name} labels ${start} f64`, f64s(window)],
      [`${name} labels ${start} ±1 f64`, f64s(window.map((v) => 2 * v - 1))],
    );
  }
  return out;
}

describe('training leak canary (CKKS)', () => {
  it('no ID, raw or standardised feature value, or label sequence in any order the protocol uses appears in any message', async () => {
    const guest = plant('breast_hetero_guest.csv', CANARY_GUEST, 10, 5);
    const host = plant('breast_hetero_host.csv', CANARY_HOST, 20, 7);
    const frames: Buffer[] = [];
    const r = await runLocalTraining({
      label: { file: guest.path, idColumn: 'id', labelColumn: 'y' },
      features: [{ file: host.path, idColumn: 'id' }],
      config: { batchSize: 128, epochs: 2, seed: 'canary', allowPartialScoreDisclosure: true },
      tap: (_from, _to, frame) => frames.push(Buffer.from(frame)),
    });
    expect(r.metrics.auc).toBeGreaterThan(0.9);
    const wire = Buffer.concat(frames);
    expect(wire.length).toBeGreaterThan(1_000_000);

    const needles: [string, Buffer][] = [];
    for (const [canary, value] of [[CANARY_GUEST, 31415.926535], [CANARY_HOST, -27182.818284]] as const) {
      needles.push([canary, Buffer.from(canary)], [`${canary} f64le`, f64(value, true)], [`${canary} f64be`, f64(value, false)]);
    }
    for (const row of [...guest.rows, ...host.rows]) {
      needles.push([row[0]!, Buffer.from(row[0]!)], [`${row[0]} utf16`, Buffer.from(row[0]!, 'utf16le')]);
      for (const cell of row.slice(1)) {
        const v = Number(cell);
        if (distinctive(v)) needles.push([`${cell} f64le`, f64(v, true)]);
      }
    }

    // What the parties compute from the files: the aligned order, the standardised values.
    const replayed = await replay(r, guest.path, host.path);
    // The replay is what the parties computed, or the needles below would prove nothing:
    // the model's own validation scores come back from the replayed data and the weights.
    const wL = Float64Array.from([...r.models[0]!.weights, r.models[0]!.intercept!]);
    const wH = Float64Array.from(r.models[1]!.weights);
    replayed.label.validationRows.forEach((p, k) => {
      let z = 0;
      for (let j = 0; j < replayed.label.width; j++) z += replayed.label.X[p * replayed.label.width + j]! * wL[j]!;
      for (let j = 0; j < replayed.host.width; j++) z += replayed.host.X[p * replayed.host.width + j]! * wH[j]!;
      expect(Math.abs(sigmoid(z) - r.predictions.scores[k]!)).toBeLessThan(1e-3);
    });
    for (const [party, data] of [['guest', replayed.label], ['host', replayed.host]] as const) {
      for (const v of data.X) if (distinctive(v)) needles.push([`${party} standardised ${v}`, f64(v)]);
    }

    // Labels in file order, in the aligned order, and in each epoch's batch order; and the
    // plaintext the label adds to the residual of each batch, (½ − y)/√n.
    needles.push(...labelNeedles('file', guest.rows.map((row) => Number(row[1]))));
    needles.push(...labelNeedles('aligned', replayed.y));
    const batchSize = r.config.batchSize as number;
    for (let epoch = 0; epoch < r.epochsRun; epoch++) {
      const batches = epochBatches(replayed.label.trainRows, batchSize, r.config.seed, epoch);
      needles.push(...labelNeedles(`epoch ${epoch} batches`, batches.flatMap((b) => Array.from(b, (p) => replayed.y[p]!))));
      batches.forEach((batch, b) => {
        const terms = Array.from(batch, (p) => (OFFSET - replayed.y[p]!) / Math.sqrt(batch.length));
        for (let start = 0; start + 2 <= terms.length; start += 2) needles.push([`epoch ${epoch} batch ${b} residual term ${start}`, f64s(terms.slice(start, start + 2))]);
      });
    }
    expect(findNeedles(wire, needles)).toEqual([]);

    // Positive controls: the same search finds each family when it does cross.
    const batch0 = epochBatches(replayed.label.trainRows, batchSize, r.config.seed, 1)[0]!;
    const planted = Buffer.concat([
      wire.subarray(0, 4096),
      f64(31415.926535),
      Buffer.from(guest.rows[3]![0]!),
      f64s(Array.from(batch0.subarray(0, 16), (p) => replayed.y[p]!)),
      f64(replayed.host.X[7]!),
    ]);
    expect(findNeedles(planted, needles).sort()).toEqual(
      [`${CANARY_GUEST} f64le`, guest.rows[3]![0]!, 'epoch 1 batches labels 0 f64', `host standardised ${replayed.host.X[7]!}`].sort(),
    );
  }, 240_000);
});

describe('training leak canary (mock HE: the values are readable, so the arbiter view can be checked value by value)', () => {
  it('every value the arbiter decrypts or returns is masked, and no residual or partial score reaches it', async () => {
    const guest = plant('breast_hetero_guest.csv', CANARY_GUEST, 10, 5);
    const host = plant('breast_hetero_host.csv', CANARY_HOST, 20, 7);
    const arbiterFrames: Buffer[] = [];
    const arbiterInputs: { t: string; boundBits: number; slots: Float64Array; count: number }[] = [];
    const arbiterReplies: number[] = [];
    const exchanged: number[] = [];
    const decodeMock = (bytes: Uint8Array): Float64Array => {
      expect(Buffer.from(bytes.subarray(0, 8)).equals(MOCK_TAG)).toBe(true);
      return new Float64Array(new Uint8Array(bytes.subarray(8)).buffer);
    };
    let partyFrames = 0;
    const r = await runLocalTraining({
      label: { file: guest.path, idColumn: 'id', labelColumn: 'y', name: 'bank' },
      features: [{ file: host.path, idColumn: 'id', name: 'agency' }],
      config: { he: 'mock', batchSize: 128, epochs: 2, seed: 'canary', allowPartialScoreDisclosure: true, momentum: 0.5 },
      tap: (from, to, frame) => {
        const m = decodeMessage(frame);
        if (from === 'arbiter' || to === 'arbiter') {
          arbiterFrames.push(Buffer.from(frame));
          if (m.t === 'he.refresh') arbiterInputs.push({ t: m.t, boundBits: m.boundBits, slots: decodeMock(m.ciphertext), count: m.period });
          if (m.t === 'train.decrypt') arbiterInputs.push({ t: `${m.t} ${m.purpose}`, boundBits: m.boundBits, slots: decodeMock(m.ciphertext), count: m.count });
          if (m.t === 'train.decrypted') arbiterReplies.push(...m.values);
          return;
        }
        partyFrames++;
        // Bank ↔ agency: partial scores (train.forward, eval.forward) and residuals, in the clear under mock HE.
        if (m.t === 'train.forward' || m.t === 'eval.forward') for (const c of m.scores) exchanged.push(...decodeMock(c));
        if (m.t === 'train.residual') for (const c of m.residual) exchanged.push(...decodeMock(c));
      },
    });
    expect(r.metrics.auc).toBeGreaterThan(0.9);
    expect(partyFrames).toBeGreaterThan(0);

    // Every slot of every ciphertext the arbiter decrypts carries a mask: the value itself
    // is within the declared bound 2^boundBits, so |v + r| ≤ 2^boundBits only with
    // probability 2^-40 per slot; and the masks fill their range (|v| > M/2 for some slot).
    const kinds = new Set(arbiterInputs.map((i) => i.t));
    expect([...kinds].sort()).toEqual(['he.refresh', 'train.decrypt loss', 'train.decrypt validation', 'train.decrypt weights']);
    for (const input of arbiterInputs) {
      const bound = 2 ** input.boundBits;
      const M = maskBoundFor(ENCRYPTED_MODEL_PARAMS, input.boundBits);
      let largest = 0;
      for (const v of input.slots) {
        expect(Math.abs(v), `${input.t}: an unmasked value`).toBeGreaterThan(bound);
        expect(Math.abs(v)).toBeLessThanOrEqual(M + bound);
        largest = Math.max(largest, Math.abs(v));
      }
      expect(largest, `${input.t}: masks do not fill their range`).toBeGreaterThan(M / 2);
    }
    // What the arbiter returns is the masked value rounded: never a value within its bound.
    expect(arbiterReplies.length).toBeGreaterThan(0);
    for (const v of arbiterReplies) expect(Math.abs(v)).toBeGreaterThan(2 ** -3);

    // No residual or partial score the parties exchange reaches the arbiter or comes back from it.
    const needles: [string, Buffer][] = [...new Set(exchanged.filter(distinctive))].map((v) => [`exchanged ${v}`, f64(v)]);
    // Two epochs of partial scores and residuals over ~455 training rows, and the validation scores.
    expect(needles.length).toBeGreaterThan(1500);
    const arbiterWire = Buffer.concat(arbiterFrames);
    expect(findNeedles(arbiterWire, needles)).toEqual([]);
    // Positive control: a residual planted among the arbiter's bytes is found.
    const planted = Buffer.concat([arbiterWire.subarray(0, 4096), needles[123]![1]]);
    expect(findNeedles(planted, needles)).toEqual([needles[123]![0]]);
  }, 240_000);
});
