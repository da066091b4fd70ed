//! The audit chain of docs/audit.md, as the runtime writes and verifies it.
//!
//! - [`jcs`]: RFC 8785 canonical JSON (an entry's leaf).
//! - [`tree`]: RFC 9162 leaf and node hashes, the Merkle tree hash, inclusion and consistency proofs, and the
//!   [`tree::Frontier`] that keeps a growing tree's root in O(log n) hashes.
//! - [`stored`]: the subtree nodes a writer stores as it appends, and proofs read from them in O(log n).
//! - [`entry`]: events as writers record them, bounded, and sealed into entries of a chain.
//! - [`note`]: checkpoint bodies, C2SP signed notes with Ed25519 audit keys, key ids and verifier keys.
//! - [`verify`]: the streaming chain verifier and its findings.

pub mod entry;
pub mod jcs;
pub mod note;
pub mod stored;
pub mod tree;
pub mod verify;

pub use entry::{seal, Actor, Event, Sealed, ZERO_HASH};
pub use jcs::canonicalize;
pub use note::{AuditKey, Checkpoint, PublicKey};
pub use tree::{Frontier, Hash};
pub use verify::{verify_chain, ChainVerifier, Failure, Finding, Options, Stored, Verified};
