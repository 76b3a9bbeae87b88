/** The venv's python if sigstore-python is installed, else undefined. */
export declare function sigstorePython(): string | undefined;
/** Installs sigstore-python (pinned in testenv/sigstore-python.txt) when missing; returns the venv's python. */
export declare function ensureSigstorePython(): Promise<string>;
