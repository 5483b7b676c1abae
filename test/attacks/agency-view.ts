/**
 * An agency's view in a scoring attack: the IDs of the records it scored, per request, in the
 * order it was asked. For a `vi.mock` of src/score/apply.ts (importing it here would load the
 * mock itself):
 *
 *   vi.mock('../../src/score/apply.ts', async (importOriginal) =>
 *     (await import('./agency-view.ts')).recordingPartialScores(importOriginal, 'tax', (ids) => view.push(ids)));
 */
type Apply = typeof import('../../src/score/apply.ts');

/** The real module, whose `partialScores` also hands `seen` the IDs each call for `party` scores. */
export async function recordingPartialScores(importOriginal: <T>() => Promise<T>, party: string, seen: (ids: string[]) => void): Promise<Apply> {
  const real = await importOriginal<Apply>();
  return {
    ...real,
    partialScores: (...args: Parameters<Apply['partialScores']>) => {
      const [slice, table, rows] = args;
      if (slice.party === party) seen(Array.from(rows, (r) => table.ids[r]!));
      return real.partialScores(...args);
    },
  };
}
