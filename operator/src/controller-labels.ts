/** Labels the operator puts on what it manages. */
export const GRANT_SECRET_LABEL = "qcap.dev/managed-by";
