//! The one JSON error shape of the runtime: `{ "error": { "code", "message", "details"? } }`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                details: None,
            },
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.error.details = Some(details);
        self
    }
}

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal => $status:literal,)*) => {
        /// Every code the runtime answers an HTTP request with: a closed set. Its HTTP status is
        /// [`ErrorCode::http_status`], the one place codes map to statuses; `docs/errors.md` lists each
        /// (checked by `tests/error_codes.rs`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of `docs/errors.md`.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable wire form (`invalid_query`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// The HTTP status every answer with this code has.
            pub const fn http_status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }
        }
    };
}

error_codes! {
    /// A rejection not covered by a more specific code.
    BadRequest = "bad_request" => 400,
    InvalidQuery = "invalid_query" => 400,
    InvalidPath = "invalid_path" => 400,
    InvalidBody = "invalid_body" => 400,
    /// An API step's body with a JSON content type is not JSON.
    InvalidJson = "invalid_json" => 400,
    MalformedBody = "malformed_body" => 400,
    InvalidEvent = "invalid_event" => 400,
    InvalidId = "invalid_id" => 400,
    Unauthenticated = "unauthenticated" => 401,
    InvalidToken = "invalid_token" => 401,
    Forbidden = "forbidden" => 403,
    /// Answered by the worker for a signed webhook step (the runtime passes the step's answer on).
    WebhookReplayed = "webhook_replayed" => 409,
    StreamAccessDenied = "stream_access_denied" => 403,
    DevEndpointDisabled = "dev_endpoint_disabled" => 403,
    CrossOriginRefused = "cross_origin_refused" => 403,
    CorsDenied = "cors_denied" => 403,
    NotFound = "not_found" => 404,
    NoEndpoint = "no_endpoint" => 404,
    LayoutUnavailable = "layout_unavailable" => 404,
    WorkbenchUnavailable = "workbench_unavailable" => 404,
    MethodNotAllowed = "method_not_allowed" => 405,
    LayoutInvalid = "layout_invalid" => 409,
    BodyTooLarge = "body_too_large" => 413,
    UnsupportedMediaType = "unsupported_media_type" => 415,
    SourceUnavailable = "source_unavailable" => 422,
    LimitExceeded = "limit_exceeded" => 429,
    /// A failure inside the runtime; the message carries an id the log has with the detail.
    Internal = "internal" => 500,
    HandlerError = "handler_error" => 500,
    BadResponse = "bad_response" => 500,
    /// The database cannot be reached.
    Unavailable = "unavailable" => 503,
    ControlPlaneUnavailable = "control_plane_unavailable" => 503,
    IdentityProviderUnavailable = "identity_provider_unavailable" => 503,
    WorkerUnavailable = "worker_unavailable" => 503,
    ShuttingDown = "shutting_down" => 503,
    TooManyConnections = "too_many_connections" => 503,
    Timeout = "timeout" => 504,
}

wire_code_traits!(ErrorCode, "error code");

/// `as_str`-based `Display`, `FromStr`, serde and `String` conversions of a closed set of wire codes.
macro_rules! wire_code_traits {
    ($ty:ident, $what:literal) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::ALL
                    .iter()
                    .copied()
                    .find(|c| c.as_str() == s)
                    .ok_or_else(|| format!(concat!("unknown ", $what, " `{}`"), s))
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl From<$ty> for String {
            fn from(c: $ty) -> String {
                c.as_str().to_string()
            }
        }
    };
}
use wire_code_traits;

/// A closed set of wire codes without an HTTP status: the enum, `ALL` (in the order of `docs/errors.md`) and
/// `as_str`.
macro_rules! wire_codes {
    ($(#[doc = $tdoc:literal])* $ty:ident, $what:literal { $($(#[doc = $doc:literal])* $variant:ident = $code:literal,)* }) => {
        $(#[doc = $tdoc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty {
            $($(#[doc = $doc])* $variant,)*
        }

        impl $ty {
            /// Every code, in the order of `docs/errors.md`.
            pub const ALL: &'static [$ty] = &[$($ty::$variant,)*];

            /// The stable wire form.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $code,)*
                }
            }
        }

        wire_code_traits!($ty, $what);
    };
}

wire_codes! {
    /// The `code` of an `error` frame on the worker socket, and the reason of the close that may follow it
    /// (`docs/errors.md`, "Worker socket"): a closed set.
    SocketCode, "worker socket code" {
        /// No valid `hello`, an invalid or revoked token, or the control plane could not check it.
        Unauthenticated = "unauthenticated",
        UnsupportedProtocol = "unsupported_protocol",
        FrameTooLarge = "frame_too_large",
        ShuttingDown = "shutting_down",
        TooManyWorkers = "too_many_workers",
        /// Not JSON, an unknown `type`, a binary frame, a second `hello`.
        BadFrame = "bad_frame",
        TooManySteps = "too_many_steps",
        RegistrationFailed = "registration_failed",
        UnknownWorker = "unknown_worker",
        /// The registration's schemas could not be compiled (an internal failure; re-register).
        InvalidSchema = "invalid_schema",
    }
}

wire_codes! {
    /// The `error.code` of a `reply` to a worker's `call` (`docs/errors.md`, "Worker socket"): a closed set.
    RpcCode, "call error code" {
        BadRequest = "bad_request",
        NotFound = "not_found",
        /// The database; retry.
        Unavailable = "unavailable",
        Internal = "internal",
        TooManyCalls = "too_many_calls",
        UnknownInvocation = "unknown_invocation",
    }
}

wire_codes! {
    /// Why a `registered` frame refuses a step or a stream (`errors[].code`; `docs/errors.md`, "Worker socket"):
    /// a closed set. The refused item is not registered; the rest of the registration is.
    RegistrationCode, "registration code" {
        /// Another API step of the project already serves the method and path.
        RouteConflict = "route_conflict",
        /// The step name is used by another file of this worker or by another worker.
        DuplicateStep = "duplicate_step",
        /// The stream name is used by another file of this worker or by another worker.
        DuplicateStream = "duplicate_stream",
        /// The manifest is not a valid step or stream (empty or reserved name, bad trigger fields, bad SLO).
        InvalidManifest = "invalid_manifest",
        /// The step's `input` schema is invalid for its draft or exceeds a limit.
        InvalidSchema = "invalid_schema",
    }
}
