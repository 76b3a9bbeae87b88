// The egress policy of HTTP sources: which addresses are refused by default, and the allow-list format.
import { describe, expect, it } from "vitest";
import { defaultDeny, judge, parseEgressPolicy } from "../../src/sources/egress.ts";

const none = parseEgressPolicy();

describe("egress policy", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.45.0.9", "loopback"],
    ["169.254.169.254", "linkLocal"],
    ["10.96.0.1", "private"],
    ["172.16.5.4", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.10", "carrierGradeNat"],
    ["0.0.0.0", "unspecified"],
    ["224.0.0.251", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fd12:3456::1", "uniqueLocal"],
    ["fe80::1", "linkLocal"],
    ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:a9fe:a9fe", "linkLocal"],
    ["64:ff9b::a9fe:a9fe", "rfc6052"],
    ["2002:7f00:1::1", "6to4"],
  ])("refuses %s (%s) by default", (address, range) => {
    const v = judge(none, "example.org", 80, address);
    expect(v.allowed).toBe(false);
    expect(v.why).toContain(range);
  });

  it.each(["93.184.215.14", "2606:4700:4700::1111", "::ffff:93.184.215.14"])("admits public %s", (a) => {
    expect(judge(none, "example.org", 443, a).allowed).toBe(true);
  });

  it("admits exactly what an allow entry names: address and port, CIDR, host, wildcard", () => {
    const p = parseEgressPolicy(
      "127.0.0.1:8080, 10.1.0.0/16 artifacts.internal,*.mirror.example:8443,[::1]:9000",
    );
    expect(judge(p, "127.0.0.1", 8080, "127.0.0.1").allowed).toBe(true);
    expect(judge(p, "127.0.0.1", 8081, "127.0.0.1").allowed).toBe(false);
    expect(judge(p, "x", 80, "10.1.200.3").allowed).toBe(true);
    expect(judge(p, "x", 80, "10.2.0.1").allowed).toBe(false);
    expect(judge(p, "Artifacts.Internal", 443, "10.9.9.9").allowed).toBe(true);
    expect(judge(p, "a.mirror.example", 8443, "192.168.0.2").allowed).toBe(true);
    expect(judge(p, "a.mirror.example", 443, "192.168.0.2").allowed).toBe(false);
    expect(judge(p, "mirror.example", 8443, "192.168.0.2").allowed).toBe(false);
    expect(judge(p, "[::1]", 9000, "::1").allowed).toBe(true);
    expect(judge(p, "evil.example", 80, "::ffff:10.1.0.7").allowed).toBe(true);
  });

  it("denies extra networks, and the API server's service address from the environment", () => {
    const p = parseEgressPolicy("", [
      "203.0.113.0/24",
      ...defaultDeny({ KUBERNETES_SERVICE_HOST: "198.51.100.1" }),
    ]);
    expect(judge(p, "x", 443, "203.0.113.9").allowed).toBe(false);
    expect(judge(p, "x", 443, "198.51.100.1").why).toContain("denied network");
    expect(defaultDeny({ KUBERNETES_SERVICE_HOST: "kubernetes.default" })).toEqual([]);
  });

  it.each(["http://x", "10.0.0.0/33", "host:0", "host:99999", "bad_name", "*.", "1.2.3.4/8:80"])(
    "refuses the malformed entry %s with a one-line message",
    (entry) => {
      expect(() => parseEgressPolicy(entry)).toThrow(/^(invalid port|not a|not an)[^\n]*$/);
    },
  );
});
