//! Wire types of the CFP worker protocol (versions 1 and 2), shared by the engine and the gateway.
//!
//! - [`frames`]: every frame a worker and the runtime exchange over the `/__cfp/worker` WebSocket.
//! - [`manifest`]: the step manifest a worker registers, and the defaults the runtime applies to it.
//! - [`payloads`]: the `input` of each kind of invocation and the `output` of an API step.
//! - [`slo`]: a step's service-level objectives (`config.slo`).
//! - [`errors`]: the JSON error body every runtime HTTP endpoint returns.
//!
//! The normative description is `docs/protocol.md`; the JSON Schema and the test vectors that both the
//! Rust and the TypeScript sides test against live in `protocol/` at the repository root.

pub mod body;
pub mod errors;
pub mod frames;
pub mod manifest;
pub mod payloads;
pub mod schema;
pub mod slo;
pub mod trace;
pub mod ui;

pub use errors::{ErrorBody, ErrorCode, RegistrationCode, RpcCode, SocketCode};
pub use frames::{
    ChildSpan, Emit, FromWorker, InvokeFrame, LogEntry, LogLevel, RegistrationError, ToWorker, Trigger, WorkerError,
};
pub use manifest::{Emits, QueueKind, StepKind, StepManifest, StorageType, StreamManifest};
pub use payloads::{
    ApiBody, ApiInput, ApiOutput, BodyEncoding, CallerKind, CronInput, EventInput, InvokeInput, Multimap, PayloadRef,
    StepAuth, StringOrStrings,
};
pub use ui::{UiManifest, UiNode, UiPosition, UiTab};

pub use body::BodyFrom;

/// The newest protocol version this runtime speaks.
pub const PROTOCOL_VERSION: u32 = 2;
/// The oldest protocol version this runtime still speaks: a worker announcing it gets API bodies parsed
/// (`body` + `rawBody`), never by reference.
pub const MIN_PROTOCOL_VERSION: u32 = 1;
