/** Types of build-if-stale.mjs (plain JavaScript so that it runs before anything is compiled). */
export declare function webBuildIsStale(): boolean;
export declare function buildWebIfStale(options?: { readonly quiet?: boolean }): boolean;
