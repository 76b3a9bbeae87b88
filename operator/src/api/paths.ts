/** API paths of the qcap.dev resources. */
import { paths } from "../kube/client.js";
import { GROUP, VERSION } from "./common.js";

export const capsulePath = (ns?: string, name?: string) =>
  paths.namespaced(GROUP, VERSION, "capsules", ns, name);
export const grantPath = (ns?: string, name?: string) =>
  paths.namespaced(GROUP, VERSION, "capabilitygrants", ns, name);
export const publisherPath = (ns?: string, name?: string) =>
  paths.namespaced(GROUP, VERSION, "publishers", ns, name);
export const clusterPublisherPath = (name?: string) =>
  `/apis/${GROUP}/${VERSION}/clusterpublishers${name ? `/${encodeURIComponent(name)}` : ""}`;
