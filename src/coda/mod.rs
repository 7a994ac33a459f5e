//! The Coda REST client: one shared client that paces itself per rate class, retries what is
//! safe to retry, follows pagination and waits for asynchronous writes.

mod client;
mod error;
mod pacer;
mod path;
mod secret;
pub mod tls;

pub use client::{CodaClient, CodaRequest, CodaResponse, RetryPolicy, DEFAULT_BASE_URL};
pub use error::{CodaError, Refused};
pub use pacer::{Pacer, RateClass, RateLimitSpecError, RateLimits};
pub use path::{check_segment, BadSegment, CodaPath};
pub use secret::Secret;
