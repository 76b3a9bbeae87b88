"use strict";
// The native engine: a local build (native/build.mjs writes qcap_native.node next to this file in a
// checkout) or else the prebuilt package for this platform, an optional dependency that npm installs
// only where its os, cpu and libc match. Requiring this throws when neither loads; @qcap/core then
// uses its portable engines.

/** Platform packages by `${process.platform}-${process.arch}` (see npm/). */
const PREBUILT = {
  "linux-x64": "@qcap/native-linux-x64-gnu",
  "linux-arm64": "@qcap/native-linux-arm64-gnu",
  "darwin-x64": "@qcap/native-darwin-x64",
  "darwin-arm64": "@qcap/native-darwin-arm64",
  "win32-x64": "@qcap/native-win32-x64-msvc",
};

function load() {
  const failures = [];
  for (const id of ["./qcap_native.node", PREBUILT[`${process.platform}-${process.arch}`]]) {
    if (!id) continue;
    try {
      return require(id);
    } catch (e) {
      failures.push(`${id}: ${e.message.split("\n")[0]}`);
    }
  }
  const err = new Error(
    `@qcap/native: no native engine for ${process.platform}-${process.arch} (${failures.join("; ") || "no prebuilt package"})`,
  );
  err.code = "QCAP_NATIVE_UNAVAILABLE";
  throw err;
}

module.exports = load();
