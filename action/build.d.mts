/** Path of the committed bundle, action/dist/index.js. */
export declare const DIST: string;
/** The bundle built in memory with the fixed esbuild options. */
export declare function bundle(): Promise<Uint8Array>;
