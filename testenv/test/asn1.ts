// Minimal DER reader/writer for the sigstore e2e tests (RFC 3161 requests, CMS signatures, X.509 extensions).

export interface Node {
  tag: number;
  /** The whole TLV. */
  raw: Buffer;
  /** The value bytes. */
  value: Buffer;
  children: Node[];
}

function parseOne(buf: Buffer, offset: number): { node: Node; next: number } {
  const tag = buf[offset] as number;
  let len = buf[offset + 1] as number;
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[offset + 2 + i] as number);
    header = 2 + n;
  }
  const start = offset + header;
  const end = start + len;
  if (end > buf.length) throw new Error(`DER: length ${len} at ${offset} overruns ${buf.length}`);
  const value = buf.subarray(start, end);
  const constructed = (tag & 0x20) !== 0;
  const children: Node[] = [];
  if (constructed) {
    let p = 0;
    while (p < value.length) {
      const { node, next } = parseOne(value, p);
      children.push(node);
      p = next;
    }
  }
  return { node: { tag, raw: buf.subarray(offset, end), value, children }, next: end };
}

export function parse(buf: Buffer): Node {
  return parseOne(buf, 0).node;
}

export function child(n: Node, i: number): Node {
  const c = n.children[i];
  if (!c) throw new Error(`DER: no child ${i} in tag 0x${n.tag.toString(16)}`);
  return c;
}

export function oid(n: Node): string {
  const b = n.value;
  const first = b[0] as number;
  const parts = [Math.floor(first / 40), first % 40];
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    const byte = b[i] as number;
    v = v * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

export function encodeOid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [(a as number) * 40 + (b as number)];
  for (const v of rest) {
    const bytes = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) bytes.unshift((x & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
}

export function encodeUint(value: Buffer): Buffer {
  const v = (value[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), value]) : value;
  return tlv(0x02, v);
}

/** X.509 extensions of a DER certificate: OID -> extnValue (the OCTET STRING content). */
export function certExtensions(der: Buffer): Map<string, Buffer> {
  const tbs = child(parse(der), 0);
  const out = new Map<string, Buffer>();
  const explicit = tbs.children.find((c) => c.tag === 0xa3);
  if (!explicit) return out;
  for (const ext of child(explicit, 0).children) {
    const id = oid(child(ext, 0));
    const value = ext.children[ext.children.length - 1] as Node;
    out.set(id, value.value);
  }
  return out;
}

export const OID = {
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  signedData: "1.2.840.113549.1.7.2",
  tstInfo: "1.2.840.113549.1.9.16.1.4",
  messageDigest: "1.2.840.113549.1.9.4",
};
