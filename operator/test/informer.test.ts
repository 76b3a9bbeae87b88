// The informer against the real API server: initial list, watch events, and recovery from a broken
// watch: a relist when its resource version has expired (410 Gone), reporting what changed meanwhile.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeClient, type KubeObject, loadKubeConfig, paths } from "../src/kube/client.js";
import { Informer } from "../src/kube/informer.js";
import { createLogger } from "../src/log.js";
import { env, kubectl, must, newNamespace, waitFor } from "./support.ts";

let ns: string;
let informer: Informer<KubeObject>;
const seen: string[] = [];
const logs: string[] = [];
let lists = 0;

beforeAll(async () => {
  ns = await newNamespace("informer");
  must(await kubectl(["-n", ns, "create", "configmap", "a", "--from-literal=x=1"]), "cm a");
  const kube = new KubeClient(loadKubeConfig(env("KUBECONFIG")));
  const get = kube.get.bind(kube);
  kube.get = <T>(path: string) => {
    lists++;
    return get<T>(path);
  };
  informer = new Informer<KubeObject>(
    kube,
    paths.configMap(ns),
    createLogger("debug", {}, (l) => logs.push(l)),
  );
  informer.on("add", (o) => seen.push(`add ${o.metadata.name}`));
  informer.on("update", (o) => seen.push(`update ${o.metadata.name}`));
  informer.on("delete", (o) => seen.push(`delete ${o.metadata.name}`));
  await informer.start();
  await informer.synced;
});

afterAll(async () => {
  await informer?.stop();
});

describe("Informer", () => {
  it("lists, then watches", async () => {
    expect(seen).toEqual(["add a"]);
    expect(informer.get(ns, "a")).toBeDefined();
    must(await kubectl(["-n", ns, "create", "configmap", "b", "--from-literal=x=1"]), "cm b");
    await waitFor("the watch event", () => seen.includes("add b"));
    must(
      await kubectl(["-n", ns, "patch", "configmap", "b", "--type=merge", "-p", '{"data":{"x":"2"}}']),
      "patch",
    );
    await waitFor("the update", () => seen.includes("update b"));
  });

  type Internals = { lw: { resourceVersion: string; stop(): Promise<void>; start(): Promise<void> } };
  const listWatch = () => (informer as unknown as Internals).lw;

  it("recovers from a broken watch and reports what changed meanwhile", async () => {
    const lw = listWatch();
    await lw.stop();
    must(await kubectl(["-n", ns, "delete", "configmap", "a"]), "delete a");
    must(await kubectl(["-n", ns, "create", "configmap", "c", "--from-literal=x=1"]), "cm c");
    seen.length = 0;
    await lw.start();
    await waitFor("the missed events", () => seen.includes("delete a") && seen.includes("add c"), 30_000);
    expect(informer.get(ns, "a")).toBeUndefined();
    expect(
      informer
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(["b", "c"]);
  });

  it("relists when the server answers 410 Gone to an expired resource version", async (ctx) => {
    // A young API server's watch cache still reaches back to version 1; an older one answers 410.
    const probe = must(
      await kubectl([
        "get",
        "--raw",
        `/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=1&timeoutSeconds=1`,
      ]),
      "probe",
    );
    if (!/"code":410/.test(probe))
      ctx.skip("this API server still serves resource version 1 (it started minutes ago)");
    const lw = listWatch();
    await lw.stop();
    must(await kubectl(["-n", ns, "delete", "configmap", "b"]), "delete b");
    must(await kubectl(["-n", ns, "create", "configmap", "d", "--from-literal=x=1"]), "cm d");
    lw.resourceVersion = "1";
    seen.length = 0;
    const before = lists;
    await lw.start();
    await waitFor("the relist", () => seen.includes("delete b") && seen.includes("add d"), 30_000);
    expect(lists).toBe(before + 1);
    expect(
      informer
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(["c", "d"]);
  });
});
