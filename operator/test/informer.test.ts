// The informer against the real API server: initial list, watch events, and a relist after the watch's
// resource version has expired (410 Gone), which reports what changed while the watch was broken.
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

  it("relists after 410 Gone and reports what changed meanwhile", async () => {
    // Break the watch and make its resource version one the server no longer has.
    const lw = (
      informer as unknown as {
        lw: { resourceVersion: string; _stop(): void; doneHandler(e: unknown): Promise<void> };
      }
    ).lw;
    lw._stop();
    must(await kubectl(["-n", ns, "delete", "configmap", "a"]), "delete a");
    must(await kubectl(["-n", ns, "create", "configmap", "c", "--from-literal=x=1"]), "cm c");
    lw.resourceVersion = "1";
    seen.length = 0;
    const before = lists;
    await lw.doneHandler(null);
    await waitFor("the relist", () => seen.includes("delete a") && seen.includes("add c"), 30_000);
    expect(informer.get(ns, "a")).toBeUndefined();
    // The server refused the expired version and the informer listed again.
    expect(lists).toBe(before + 1);
    expect(lw.resourceVersion).not.toBe("1");
    expect(
      informer
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(["b", "c"]);
  });
});
