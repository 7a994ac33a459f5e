//! Errors from talking to Coda, with the advice a model needs to recover.

use serde_json::Value;

/// Why a Coda request failed. Each variant renders as a message that says what happened
/// and what to do next, because these messages are shown to the model as tool errors.
#[derive(Debug, thiserror::Error)]
pub enum CodaError {
    /// Coda answered with a 4xx/5xx status and (usually) its JSON error body.
    #[error("{}", api_message(*.status, .status_message, .message, .validation))]
    Api {
        status: u16,
        status_message: String,
        message: String,
        validation: Vec<(String, String)>,
    },
    /// Still rate-limited after the client's retries, or Coda asked for a longer wait
    /// (`Retry-After`) than a call may block.
    #[error("Coda rate limit (429): {}", rate_limited_message(*.retries, *.retry_after))]
    RateLimited {
        retries: u32,
        retry_after: Option<std::time::Duration>,
    },
    /// The request never got an HTTP answer (DNS, connect, timeout, reset).
    #[error("Coda is unreachable: {0}")]
    Unreachable(String),
    /// Coda answered with something that is not the JSON we expected.
    #[error("Coda sent an unexpected response: {0}")]
    BadResponse(String),
    /// A write failed in a way that leaves its outcome unknown (5xx, timeout, reset). It is
    /// never resent automatically, because Coda may have applied it.
    #[error("Coda did not confirm the write ({0}); it may or may not have been applied and was not retried to avoid a duplicate — check (e.g. list the rows) before trying again")]
    WriteUncertain(String),
    /// A download link pointed outside Coda's own hosts.
    #[error("refused to download from {0}: only Coda's own hosts are trusted")]
    UntrustedHost(String),
    /// No Coda token is configured.
    #[error("no Coda API token is configured: set CODA_API_TOKEN (or run with --demo)")]
    NoToken,
    /// Coda answered 403: the token may not do this. Which limit a token has (read-only,
    /// one doc) Coda's answer does not say, so the advice follows from what was refused.
    #[error("{}", forbidden_message(.refused, .message))]
    Forbidden {
        /// What the request was.
        refused: Refused,
        /// Coda's own message.
        message: String,
    },
    /// A read sent with `X-Coda-Doc-Version: latest` (`requireLatest`) was refused with 400:
    /// Coda's copy of the doc does not have its latest edits yet. Usual for a few seconds
    /// after a write; retrying shortly is the cure.
    #[error("Coda's copy of this doc does not have its latest edits yet (400 with requireLatest: {0}); retry in a few seconds, or call without requireLatest to read the copy as it is")]
    DocNotLatest(String),
    /// `getMutationStatus` answered 404: usual for a few seconds after a write, until Coda has
    /// recorded it (and forever for an id Coda never issued).
    #[error("Coda API error 404: the write is not visible yet — Coda answers 404 for a few seconds after a write, until it has recorded it; try again in a few seconds (a requestId Coda never issued stays 404)")]
    WriteNotRecordedYet,
}

/// What a request Coda refused with 403 was, for advice that fits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A write (POST/PUT/PATCH/DELETE): a read-only token, or one limited to other docs.
    Write,
    /// A read of this doc: the token is limited to other docs (doc-scoped), or its user has
    /// no access to this one.
    Doc(String),
    /// Any other read.
    Read,
}

fn forbidden_message(refused: &Refused, message: &str) -> String {
    match refused {
        Refused::Write => format!(
            "Coda refused this write (403 Forbidden: {message}): the Coda API token lacks access for it — a read-only token cannot write and a doc-scoped one cannot reach other docs; some changes also need more rights in the doc (see Coda's message). Reading may still work; to write, the user needs a token with write access to this doc (coda.io/account → API settings). Do not retry with the same token."
        ),
        Refused::Doc(doc) => format!(
            "Coda refused access to doc {doc} (403 Forbidden: {message}): the Coda API token lacks access to it — it is restricted to other docs (doc-scoped), or its user cannot open this doc. coda_list_documents shows the docs this token can reach."
        ),
        Refused::Read => format!(
            "Coda refused this request (403 Forbidden: {message}): this Coda API token lacks access to it (tokens can be restricted to one doc or to reading). Use a token with that access."
        ),
    }
}

impl CodaError {
    /// Builds an [`CodaError::Api`] from a status and Coda's error body
    /// `{statusCode, statusMessage, message, codaDetail?}`, tolerating non-JSON bodies.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let status_message = parsed["statusMessage"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| {
                http::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("Error")
                    .to_owned()
            });
        let message = parsed["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(body);
                text.chars().take(300).collect()
            });
        let validation = parsed["codaDetail"]["validationErrors"]
            .as_array()
            .map(|errs| {
                errs.iter()
                    .map(|e| {
                        (
                            e["path"].as_str().unwrap_or("").to_owned(),
                            e["message"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        CodaError::Api {
            status,
            status_message,
            message,
            validation,
        }
    }

    /// The HTTP status Coda answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            CodaError::Api { status, .. } => Some(*status),
            CodaError::RateLimited { .. } => Some(429),
            CodaError::DocNotLatest(_) => Some(400),
            CodaError::Forbidden { .. } => Some(403),
            CodaError::WriteNotRecordedYet => Some(404),
            _ => None,
        }
    }
}

fn rate_limited_message(retries: u32, retry_after: Option<std::time::Duration>) -> String {
    match retry_after {
        Some(wait) => format!(
            "still rate-limited after {retries} retries; Coda asks to wait {} s before the next call — try again then, with fewer calls",
            wait.as_secs_f64().ceil()
        ),
        None => format!(
            "still rate-limited after {retries} retries; wait a few seconds and try again with fewer calls"
        ),
    }
}

fn api_message(
    status: u16,
    status_message: &str,
    message: &str,
    validation: &[(String, String)],
) -> String {
    let advice = match status {
        400 => "check the arguments against the tool's schema",
        401 => "the Coda API token was rejected; set a new token",
        403 => "the Coda API token lacks access to this doc or operation (a read-only or doc-scoped token cannot write, nor export page content); use a token with that access",
        404 => "the id was not found; list the parent first to get a valid id",
        410 => "the resource was deleted",
        422 => "Coda could not process these values",
        429 => "rate-limited; wait and retry",
        500..=599 => "Coda had a server error; try again shortly",
        _ => "see Coda's message",
    };
    let mut text = format!("Coda API error {status} {status_message}: {message} ({advice})");
    for (path, msg) in validation {
        text.push_str(&format!("; {path}: {msg}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_coda_error_body_with_advice_and_validation() {
        let body = br#"{"statusCode":400,"statusMessage":"Bad Request","message":"Invalid row","codaDetail":{"validationErrors":[{"path":"rows[0].cells","message":"Expected array"}]}}"#;
        let err = CodaError::from_response(400, body);
        let text = err.to_string();
        assert!(text.contains("400 Bad Request: Invalid row"), "{text}");
        assert!(text.contains("rows[0].cells: Expected array"), "{text}");
    }

    #[test]
    fn tolerates_non_json_bodies() {
        let err = CodaError::from_response(502, b"<html>bad gateway</html>");
        assert_eq!(err.status(), Some(502));
        assert!(err.to_string().contains("Bad Gateway"));
    }
}
