/** The job summary: what was sealed, its identity, and the command that verifies it. */
import { basename } from "node:path";
import * as core from "@actions/core";

export interface SummaryFacts {
  capsulePath: string;
  size: number;
  sha256: string;
  root: string;
  issuer: string;
  ephemeralIssuer: boolean;
  files: { name: string; size: number }[];
  meta: { name: string; size: number }[];
  recipients: { kid: string; text: string }[];
  attestation?:
    | { mode: "keyless"; path: string; identity: string; issuer: string }
    | { mode: "key"; path: string };
  url?: string;
  /** `owner/repo` when the bundle was stored with the repository's attestations. */
  storedIn?: string;
}

/** Rows shown before the table is cut short (the summary is limited to 1 MiB). */
const MAX_ROWS = 500;

/** HTML escaping: the summary is HTML, and file names come from the build. */
const html = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const cell = (s: string) => html(s).replace(/[\r\n]/g, " ");
const code = (s: string) => `<code>${cell(s)}</code>`;

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'"'"'`)}'`);

/** The command a reader runs to check the capsule and its attestation. */
export function verifyCommand(f: SummaryFacts): string {
  const name = basename(f.capsulePath);
  const args = ["qcap", "verify", name];
  if (!f.ephemeralIssuer) args.push("--trust", f.issuer);
  if (f.attestation) {
    args.push("--attestation", basename(f.attestation.path));
    if (f.attestation.mode === "keyless")
      args.push(
        "--trusted-root",
        "trusted_root.json",
        "--identity",
        f.attestation.identity,
        "--issuer",
        f.attestation.issuer,
      );
  }
  return args.map(shellQuote).join(" ");
}

/**
 * The standard tools' commands for a keyless attestation: cosign (with the instance's trusted root: the
 * public-good one by default) and, when the bundle was stored with the repository, `gh attestation verify`.
 */
export function standardCommands(f: SummaryFacts): string[] {
  if (f.attestation?.mode !== "keyless") return [];
  const name = basename(f.capsulePath);
  const cosign = [
    "cosign",
    "verify-blob-attestation",
    "--new-bundle-format",
    "--bundle",
    basename(f.attestation.path),
    "--type",
    "slsaprovenance1",
    "--certificate-identity",
    f.attestation.identity,
    "--certificate-oidc-issuer",
    f.attestation.issuer,
    name,
  ];
  const out = [cosign.map(shellQuote).join(" ")];
  if (f.storedIn) out.push(["gh", "attestation", "verify", name, "-R", f.storedIn].map(shellQuote).join(" "));
  return out;
}

export async function writeSummary(f: SummaryFacts): Promise<void> {
  const s = core.summary;
  s.addHeading(`Q-Cap capsule ${cell(basename(f.capsulePath))}`, 3);
  const rows: [string, string][] = [
    ["capsule", `${code(basename(f.capsulePath))} (${bytes(f.size)})`],
    ["digest", code(`sha256:${f.sha256}`)],
    ["Merkle root", code(f.root)],
    [
      "issuer",
      `${code(f.issuer)}${f.ephemeralIssuer ? " (one-time key; trust comes from the attestation)" : ""}`,
    ],
    [
      "sealed",
      f.recipients.length > 0
        ? `yes, to ${f.recipients.length} recipient${f.recipients.length === 1 ? "" : "s"}`
        : "no (signed, not encrypted)",
    ],
  ];
  if (f.attestation?.mode === "keyless")
    rows.push([
      "attestation",
      `sigstore keyless: ${code(f.attestation.identity)}, issuer ${code(f.attestation.issuer)}`,
    ]);
  else if (f.attestation) rows.push(["attestation", "signed with the issuer key"]);
  else rows.push(["attestation", "none"]);
  if (f.url) rows.push(["uploaded", `<a href="${cell(f.url)}">${cell(f.url)}</a>`]);
  s.addTable([
    [
      { data: "", header: true },
      { data: "", header: true },
    ],
    ...rows,
  ]);

  const all = [...f.files, ...f.meta];
  s.addHeading(`Files (${f.files.length}${f.meta.length ? ` + ${f.meta.length} metadata` : ""})`, 4);
  const fileRows = all.slice(0, MAX_ROWS).map((e) => [code(e.name), bytes(e.size)]);
  s.addTable([
    [
      { data: "file", header: true },
      { data: "size", header: true },
    ],
    ...fileRows,
  ]);
  if (all.length > MAX_ROWS) s.addRaw(`<p>… and ${all.length - MAX_ROWS} more</p>`, true);

  if (f.recipients.length > 0) {
    s.addHeading("Recipients", 4);
    s.addTable([
      [
        { data: "key id", header: true },
        { data: "recipient", header: true },
      ],
      ...f.recipients.map((r) => [code(r.kid), code(r.text)]),
    ]);
  }

  s.addHeading("Verify", 4);
  const trustedRootNote =
    f.attestation?.mode === "keyless"
      ? " <code>trusted_root.json</code> is the sigstore TrustedRoot of the instance that signed."
      : "";
  s.addRaw(
    `<p>With the <code>qcap</code> CLI, next to the downloaded capsule and bundle:${trustedRootNote}</p>`,
    true,
  );
  s.addCodeBlock(html(verifyCommand(f)), "sh");
  const standard = standardCommands(f);
  if (standard.length) {
    s.addRaw("<p>With the standard sigstore tools:</p>", true);
    s.addCodeBlock(html(standard.join("\n")), "sh");
  }
  await s.write();
}
