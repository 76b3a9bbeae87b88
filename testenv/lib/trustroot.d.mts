export interface DistinguishedName {
  organization: string;
  commonName: string;
}
export interface CertificateAuthority {
  subject: DistinguishedName;
  uri: string;
  certChain: { certificates: { rawBytes: string }[] };
  validFor: { start: string };
}
export declare function splitPem(pem: string): string[];
export declare function certificateAuthority(
  uri: string,
  pems: string[],
  fallbackSubject?: DistinguishedName,
): CertificateAuthority;
