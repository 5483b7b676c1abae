/**
 * Attack: opening labels of enterprises the bank did not ask about (the bank's view, blind
 * lookup). The labeled tag set the agency sends at a session's start carries every
 * consented enterprise's permitted fields, sealed (AES-256-GCM) under a key derived from the
 * record's OPRF output. The bank asks about a few enterprises, then tries to open every
 * label of the set with every key it can form: the label keys of its own answers, keys
 * derived from each published tag, and keys derived from the unkeyed hash H1(id) of every
 * enterprise in the register (the worst case: it knows the whole register's IDs, e.g. from
 * a public business directory).
 *
 * Its view: the session's `lookup.ready` and `lookup.tags` frames (tags, sealed labels),
 * the label keys its own lookups derived, its query IDs and the candidate IDs.
 * Success measure: labels opened beyond those of the enterprises it asked about.
 *
 * Positive control: label keys derived from the published tag (as if tag and key came from
 * one hash): the bank opens every label in the set without a single further query.
 * Real protocol: label keys come from k·H1(id) in another hash domain than the tag; the
 * bank opens exactly the labels of the enterprises it asked about.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { oprfHashPrefix } from '../../src/lookup/online.ts';
import { TAG_BYTES } from '../../src/lookup/oprf.ts';
import { loadBackend } from '../../src/psi/backends/index.ts';
import { POINT_BYTES } from '../../src/psi/group.ts';
import { uscc } from '../helpers/ids.ts';
import { openSession, taxPolicy, type Register } from './lookup-fixture.ts';

const LABEL_DOMAIN = 'jinqiao/oprf/v1/label-key';

/** The leaky variant: a record's label key is a hash of its published tag. */
const leaky = vi.hoisted(() => ({ on: false }));
/** The label keys the bank's own lookups used (its view: it derived them). */
const bankKeys = vi.hoisted(() => [] as Uint8Array[]);
vi.mock('../../src/lookup/oprf.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lookup/oprf.ts')>();
  return {
    ...real,
    labelKeyOf: (evaluation: Uint8Array) => {
      if (!leaky.on) return real.labelKeyOf(evaluation);
      const tag = new Uint8Array(real.TAG_BYTES);
      real.tagOf(evaluation, tag, 0);
      return createHash('sha512').update(LABEL_DOMAIN).update(tag).digest().subarray(0, 32);
    },
  };
});
vi.mock('../../src/lookup/label.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lookup/label.ts')>();
  return {
    ...real,
    openLabel: (key: Uint8Array, sealed: Uint8Array, fields: number) => {
      bankKeys.push(Uint8Array.from(key));
      return real.openLabel(key, sealed, fields);
    },
  };
});
const { openLabel } = await vi.importActual<typeof import('../../src/lookup/label.ts')>('../../src/lookup/label.ts');

const N = 60;
const ids = Array.from({ length: N }, (_, i) => uscc(84_000 + i));
const vat = ids.map((_, i) => 1_000 + 37.5 * i);
const staff = ids.map((_, i) => (i * 7919 + 13) % 500);
const register: Register = { ids, fields: { vat_paid_wan: vat, staff, registered_capital_wan: vat.map((v) => v * 3) } };
const asked = [3, 10, 11, 25, 40];

/** (Bank) Every key it can form for a label: its own answers' keys, keys from the tag, keys from the unkeyed hash of every candidate ID. */
async function candidateKeys(tag: Uint8Array, prefix: Uint8Array): Promise<Uint8Array[]> {
  const fromTag = [createHash('sha512').update(LABEL_DOMAIN).update(tag).digest().subarray(0, 32), createHash('sha256').update(tag).digest(), Buffer.concat([tag, Buffer.alloc(32 - tag.length)])];
  const group = await loadBackend('x25519');
  const point = new Uint8Array(POINT_BYTES);
  const fromIds = ids.map((id) => {
    group.hashToGroup(Buffer.concat([prefix, Buffer.from(id)]), point, 0);
    return createHash('sha512').update(LABEL_DOMAIN).update(point).digest().subarray(0, 32);
  });
  return [...bankKeys, ...fromTag, ...fromIds];
}

/** Runs the bank's lookups of `asked` in a blind session; returns how many labels of the set its keys open, and how many its lookups answered. */
async function attack(): Promise<{ opened: number; answered: number; labels: number }> {
  bankKeys.length = 0;
  const { session, served, frames } = await openSession(register, await taxPolicy(0.25), 'blind', [
    { field: 'vat_paid_wan', tolerance: undefined },
    { field: 'staff', tolerance: undefined },
  ]);
  const rows = await session.lookup(asked.map((e) => ids[e]!));
  asked.forEach((e, k) => expect(rows[k]).toEqual([String(vat[e]), String(staff[e])]));
  await session.close();
  await served;
  const ready = frames.find((f) => f.from === 'tax-bureau' && f.message.t === 'lookup.ready')!.message as { keyId: string; domain: string; labelBytes: number; count: number };
  const parts = frames.flatMap((f) => (f.from === 'tax-bureau' && f.message.t === 'lookup.tags' ? [f.message as { tags: Uint8Array; labels: Uint8Array }] : []));
  const tags = Buffer.concat(parts.map((p) => p.tags));
  const labels = Buffer.concat(parts.map((p) => p.labels));
  expect(tags.length).toBe(ready.count * TAG_BYTES);
  const prefix = oprfHashPrefix(ready.keyId, ready.domain);
  let opened = 0;
  for (let i = 0; i < ready.count; i++) {
    const sealed = labels.subarray(i * ready.labelBytes, (i + 1) * ready.labelBytes);
    for (const key of await candidateKeys(tags.subarray(i * TAG_BYTES, (i + 1) * TAG_BYTES), prefix)) {
      if (openLabel(key, sealed, 2) !== undefined) {
        opened++;
        break;
      }
    }
  }
  return { opened, answered: asked.length, labels: ready.count };
}

describe('attack: the bank opens labels of enterprises it did not ask about', () => {
  it('positive control: with label keys derived from the published tags, every label opens', async () => {
    leaky.on = true;
    try {
      const r = await attack();
      expect(r.labels).toBe(N);
      expect(r.opened).toBe(N);
    } finally {
      leaky.on = false;
    }
  }, 60_000);

  it('with label keys from the OPRF output, only the labels of the enterprises it asked about open', async () => {
    const r = await attack();
    expect(r.labels).toBe(N);
    expect(r.opened).toBe(r.answered);
  }, 60_000);
});
