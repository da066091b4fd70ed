// cfp-audit-verify: CFP's audit chain as specified in docs/audit.md, with no runtime dependency but node:crypto.
export { canonicalize, CanonicalizeError } from './jcs.js'
export {
  leafHash,
  nodeHash,
  emptyRoot,
  merkleRoot,
  inclusionProof,
  consistencyProof,
  inclusionProofFrom,
  consistencyProofFrom,
  subtreeRoot,
  verifyInclusion,
  verifyConsistency,
  MerkleTree,
  Frontier,
  type PerfectSubtrees,
  type PerfectNode,
  inclusionProofNodes,
  consistencyProofNodes,
  rootNodes,
} from './merkle.js'
export { type AuditEntry, type ActorType, type AuthMethod, type OutcomeStatus, entryLeaf, entryProblem, ZERO_HASH, CHAIN_ID } from './entry.js'
export {
  type PublicAuditKey,
  type Checkpoint,
  type NoteCheck,
  checkpointBody,
  parseCheckpointBody,
  keyId,
  signCheckpoint,
  verifyCheckpoint,
  checkNote,
  formatVerifierKey,
  parseVerifierKey,
  privateKeyFromSeed,
  rawPublicKey,
} from './checkpoint.js'
export { type Finding, type StoredEntry, type ChainStart, type ConsistencyProofRecord, type VerifyOptions, type ChainResult, verifyChain } from './verify.js'
export { type Anchor, type AnchorCheck, anchorDigest, checkAnchor } from './anchor.js'
export { type TimestampCheck, checkTimestamp } from './tsr.js'
export {
  type BundleChain,
  type BundleInput,
  type BundleOptions,
  type BundleResult,
  type VerifiedChain,
  BUNDLE_TYPE,
  MAX_LINE_BYTES,
  bundleLines,
  verifyBundle,
} from './bundle.js'
export {
  type AnchorStore,
  type TimestampOptions,
  anchorName,
  createAnchor,
  directoryAnchorStore,
  requestTimestamp,
  timestampQuery,
} from './anchor-write.js'
export {
  type QueryFn,
  type TablesResult,
  PAGE_ENTRIES,
  tableChains,
  tableCheckpoints,
  tableEntries,
  tableKeys,
  tablePruned,
  tableLatestPrune,
  unrecordedPrune,
  verifyTableChain,
  verifyTables,
} from './tables.js'
export { type ChainState, type Appended, EMPTY_CHAIN, appendEntry, boundEntry, truncateUtf8 } from './writer.js'
