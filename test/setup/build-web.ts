/**
 * Vitest global setup: the browser and HTTP tests need the built chat (web/dist), so it is
 * built here when missing or older than its sources, once per test run.
 */
import { buildWebIfStale } from '../../web/build-if-stale.mjs';

export default function setup(): void {
  buildWebIfStale({ quiet: true });
}
