/** Absolute path of crds/ (the source of truth). */
export declare const SOURCE_DIR: string;
/** Absolute path of charts/qcap-operator/crds/. */
export declare const CHART_CRDS_DIR: string;
/** Differences between crds/ and the chart's copy, as human-readable lines (empty when in sync). */
export declare function crdDrift(): string[];
/** Rewrites the chart's crds/ folder from crds/; returns the file names. */
export declare function syncCrds(): string[];
