/**
 * `@qcap/core/grant`: what grants need beyond issuing and checking them (in `@qcap/core`): the
 * issuer's signed revocation lists, caveats as text, and a grant's readable description.
 */
export { type Allow, type Caveat, formatCaveat, parseCaveat } from "./caveats.js";
export { describeGrant } from "./grant.js";
export {
  parseRevocationList,
  type RevocationList,
  type Revoked,
  serializeRevocationList,
  type UpdateOptions as RevocationUpdate,
  updateRevocationList,
  type VerifyListOptions,
  verifyRevocationList,
} from "./revocation.js";
