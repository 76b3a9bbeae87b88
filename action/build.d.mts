/** Path of the committed bundle, action/dist/index.js. */
export declare const DIST: string;
/** Paths of the committed files of action/dist, by name. */
export declare const DIST_FILES: { "index.js": string; "worker.js": string };
/** The bundles built in memory with the fixed esbuild options. */
export declare function bundle(): Promise<{ "index.js": Uint8Array; "worker.js": Uint8Array }>;
