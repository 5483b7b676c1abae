/**
 * The registry of group backends. Native ones are loaded lazily, so a machine without a
 * working sodium-native build still runs the pure-JavaScript backends.
 */
import { errors } from '../../errors.ts';
import type { BackendName, GroupBackend } from '../group.ts';

export const BACKEND_NAMES: readonly BackendName[] = ['x25519', 'x25519-noble', 'ristretto255-noble'];
export const DEFAULT_BACKEND: BackendName = 'x25519';

export function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}

export async function loadBackend(name: BackendName): Promise<GroupBackend> {
  switch (name) {
    case 'x25519':
      try {
        return (await import('./x25519-sodium.ts')).x25519Sodium;
      } catch (e) {
        throw errors.backendUnavailable(name, `sodium-native did not load (${(e as Error).message})`);
      }
    case 'x25519-noble':
      return (await import('./x25519-noble.ts')).x25519Noble;
    case 'ristretto255-noble':
      return (await import('./ristretto255-noble.ts')).ristretto255Noble;
  }
}
