"use strict";
// The compiled addon (built by build.mjs from src/lib.rs). Requiring this throws when it has not
// been built; @qcap/core then uses its portable engines.
module.exports = require("./qcap_native.node");
