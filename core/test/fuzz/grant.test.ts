/**
 * Grants, macaroons, caveats and revocation lists: mutated files (byte edits of the text, or a member
 * replaced by an arbitrary JSON value) are refused with typed errors, and a mutated grant or list
 * that still passes every check grants or revokes exactly what the original did.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { parseCaveat } from "../../src/grant/caveats.js";
import { type CheckedGrant, checkGrant, type Grant, parseGrant } from "../../src/grant/grant.js";
import { decodeMacaroonV2 } from "../../src/grant/macaroon.js";
import { parseRevocationList, verifyRevocationList } from "../../src/grant/revocation.js";
import { parseRfc3339 } from "../../src/grant/time.js";
import { toHex } from "../../src/hash/hex.js";
import { parseIdentity } from "../../src/keys/age.js";
import { mutateText, mutations, params, timeout, typedOnly } from "./fuzz-helpers.js";

const vectors = (f: string) =>
  JSON.parse(readFileSync(new URL(`../../test-vectors/${f}`, import.meta.url), "utf8"));
const G = vectors("grants.json");
const R = vectors("revocations.json");
const now = parseRfc3339(G.now) as number;
const identities = [parseIdentity(G.identities.alice), parseIdentity(G.identities.bob)];

/** What a checked grant lets its holder do: the comparison of "still passes" outcomes. */
const outcome = (c: CheckedGrant) =>
  JSON.stringify({
    id: c.id,
    effective: c.effective,
    entries: (c.entries ?? []).map((e) => [e.entry, e.name, e.key ? toHex(e.key) : null, toHex(e.tag)]),
  });

/** Parses and checks with each identity: the outcomes of those that passed. */
function check(text: string): string[] {
  let g: Grant;
  try {
    g = parseGrant(text);
  } catch (e) {
    typedOnly(() => {
      throw e;
    });
    return [];
  }
  const out: string[] = [];
  for (const identity of identities) {
    let c: CheckedGrant | undefined;
    typedOnly(() => {
      c = checkGrant(g, { now, identity });
    });
    if (c) out.push(outcome(c));
  }
  return out;
}

const jsonEdit = fc.record({ path: fc.nat(), value: fc.jsonValue({ maxDepth: 2 }) });

/** Replaces the value at the `path`-th position of a depth-first walk of `json` (wrapping around). */
function replaceAt(json: unknown, n: number, value: unknown): unknown {
  const slots: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (x: unknown) => {
    if (x === null || typeof x !== "object") return;
    for (const [k, v] of Object.entries(x)) {
      slots.push({ parent: x as Record<string, unknown>, key: Array.isArray(x) ? Number(k) : k });
      walk(v);
    }
  };
  const copy = structuredClone(json);
  walk(copy);
  const s = slots[n % slots.length];
  if (s) (s.parent as Record<string | number, unknown>)[s.key] = value;
  return copy;
}

describe("fuzz: grants", () => {
  for (const which of ["grant", "attenuated"] as const) {
    const text = JSON.stringify(G[which].file, null, 2);
    const expected = check(text);

    test(`the ${which} vector passes for its audience only`, () => {
      expect(expected).toHaveLength(1);
    });

    test(
      `a byte-edited ${which} grant is refused, or grants exactly what the original does`,
      () => {
        fc.assert(
          fc.property(mutations, (ms) => {
            for (const o of check(mutateText(text, ms))) expect(expected).toContain(o);
          }),
          params,
        );
      },
      timeout,
    );

    test(
      `a ${which} grant with a member replaced is refused, or grants exactly what the original does`,
      () => {
        fc.assert(
          fc.property(fc.array(jsonEdit, { minLength: 1, maxLength: 3 }), (edits) => {
            let j: unknown = G[which].file;
            for (const e of edits) j = replaceAt(j, e.path, e.value);
            for (const o of check(JSON.stringify(j))) expect(expected).toContain(o);
          }),
          params,
        );
      },
      timeout,
    );
  }

  test(
    "macaroon and caveat parsers throw only typed errors",
    () => {
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 3 }), fc.string({ maxLength: 80 }), (j, s) => {
          typedOnly(() => decodeMacaroonV2(j));
          typedOnly(() => parseCaveat(s));
          typedOnly(() => parseCaveat(`path ${s}`));
          typedOnly(() => parseCaveat(`expires < ${s}`));
        }),
        params,
      );
    },
    timeout,
  );
});

describe("fuzz: revocation lists", () => {
  const list = R.lists[0];
  const text = JSON.stringify(list);
  const listNow = parseRfc3339("2030-01-02T00:00:00Z") as number;
  const verified = (t: string): string | null => {
    let out: string | null = null;
    typedOnly(() => {
      const l = parseRevocationList(t);
      verifyRevocationList(l, { issuer: list.issuer, now: listNow });
      out = JSON.stringify(l);
    });
    return out;
  };
  const expected = verified(text);

  test("the vector verifies", () => {
    expect(expected).not.toBeNull();
  });

  test(
    "a byte-edited or member-replaced list is refused, or says exactly what the original does",
    () => {
      fc.assert(
        fc.property(mutations, fc.array(jsonEdit, { minLength: 1, maxLength: 2 }), (ms, edits) => {
          const a = verified(mutateText(text, ms));
          if (a !== null) expect(a).toBe(expected);
          let j: unknown = list;
          for (const e of edits) j = replaceAt(j, e.path, e.value);
          const b = verified(JSON.stringify(j));
          if (b !== null) expect(b).toBe(expected);
        }),
        params,
      );
    },
    timeout,
  );
});
