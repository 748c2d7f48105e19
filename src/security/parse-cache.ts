/**
 * The caches behind yoga's `parserAndValidationCache`, bounded by size instead of by count.
 *
 * Yoga's default keeps 1,024 documents and 1,024 parse errors whatever their size
 * (graphql-yoga `src/plugins/use-parser-and-validation-cache.ts`, `_createLRUCache({ max: 1024 })`),
 * keyed by the full query text. A 1 MB document of aliases parses into ~40 MB of AST, so a
 * thousand distinct ones outgrow any heap. Here documents share one budget of estimated bytes
 * (lru-cache's `maxSize` with a `sizeCalculation`): the key's characters plus the document's
 * tokens times the heap a cached document keeps per token. Parse errors are not cached at all: their keys
 * are whatever an attacker sends, and failing again costs one lexing pass, bounded by the body
 * limit. The validation cache needs no bound of its own: yoga keys it by document in WeakMaps,
 * so it lets go of what this cache evicts.
 */
import type { DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';

/**
 * Heap a cached document keeps per lexical token: its AST (nodes and location tokens), and the
 * validation result yoga keeps for it as long as the document lives (errors hold nodes and
 * locations). Measured on graphql 16.15 with `--expose-gc`: the AST 250–520 bytes per token
 * (argument lists to repeated fields), a validation result up to 300 more.
 */
export const CACHED_BYTES_PER_TOKEN = 800;

/** The cache interface yoga's parser cache takes (`documentCache`, `errorCache`). */
export interface KeyedCache<T> {
  get(key: string): T | undefined;
  set(key: string, value: T): void;
}

export interface ParseCaches {
  readonly documentCache: KeyedCache<DocumentNode>;
  readonly errorCache: KeyedCache<unknown>;
  /** Estimated bytes held now (for tests and metrics). */
  readonly size: () => number;
}

export interface ParseCacheOptions {
  /** Estimated bytes the cache may hold, keys included. */
  readonly maxBytes: number;
  /** Entries unused this long are dropped. @default 3600000 (yoga's default) */
  readonly ttlMs?: number;
}

/** Tokens of a parsed document, by walking the lexer's token list its location keeps. */
function tokenCount(document: DocumentNode): number {
  let count = 0;
  for (let token = document.loc?.startToken ?? null; token !== null; token = token.next) count += 1;
  return count;
}

const UTF16_BYTES = 2;

export function createParseCache({ maxBytes, ttlMs = 3_600_000 }: ParseCacheOptions): ParseCaches {
  const cache = new LRUCache<string, DocumentNode>({
    maxSize: maxBytes,
    ttl: ttlMs,
    // Anything larger than the whole budget is simply not cached (lru-cache refuses it).
    sizeCalculation: (document, key) => Math.max(1, key.length * UTF16_BYTES + tokenCount(document) * CACHED_BYTES_PER_TOKEN),
  });
  return {
    documentCache: {
      get: (key) => cache.get(key),
      set: (key, document) => void cache.set(key, document),
    },
    errorCache: { get: () => undefined, set: () => {} },
    size: () => cache.calculatedSize,
  };
}
