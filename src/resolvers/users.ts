/**
 * Users exist from the moment a token names them or a group adds them. The name is the `name`
 * claim of the user's most recent token; this remembers which names were written so that a
 * request costs no write unless the name changed.
 */
import type { Viewer } from '../auth/jwt.ts';
import type { Store } from '../storage/port.ts';

export interface ViewerRegistry {
  /** Makes sure the store knows the viewer with this name. */
  remember(viewer: Viewer): Promise<void>;
}

export interface ViewerRegistryOptions {
  readonly store: Store;
  /** Users whose written name is remembered; the oldest is forgotten first. @default 50000 */
  readonly maxCached?: number;
}

export function createViewerRegistry({ store, maxCached = 50_000 }: ViewerRegistryOptions): ViewerRegistry {
  const written = new Map<string, string | null>();
  return {
    async remember(viewer) {
      if (written.has(viewer.id) && written.get(viewer.id) === viewer.name) return;
      await store.upsertUser({ id: viewer.id, name: viewer.name });
      // Map iteration order is insertion order: dropping the first key evicts the oldest.
      if (written.size >= maxCached) written.delete(written.keys().next().value as string);
      written.set(viewer.id, viewer.name);
    },
  };
}
