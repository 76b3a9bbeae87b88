/** Opening capsules named on the command line: local paths or http(s) URLs. */
import { Capsule, type OpenOptions } from "../capsule/capsule.js";
import { DEFAULT_HTTP_TAIL, httpSource, type RangeSource, tailCachedSource } from "../io/source.js";
import { fileSource } from "../node/source.js";

/** Bytes fetched from the end of a remote capsule in the first request. */
const REMOTE_TAIL = DEFAULT_HTTP_TAIL;

export async function openSource(location: string): Promise<RangeSource> {
  if (/^https?:\/\//i.test(location)) return tailCachedSource(await httpSource(location), REMOTE_TAIL);
  return fileSource(location);
}

export async function openCapsule(location: string, options: OpenOptions = {}): Promise<Capsule> {
  const source = await openSource(location);
  try {
    return await Capsule.open(source, options);
  } catch (e) {
    await source.close();
    throw e;
  }
}
