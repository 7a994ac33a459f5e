//! Reads each request's body (up to [`MAX_BODY_BYTES`]) before anything answers it.
//!
//! The layers in front of the handlers refuse requests early — 401 without a key, 403 for a
//! foreign Host, 429 over the rate — and a refusal sent while the client is still writing
//! the body leaves hyper unable to keep the connection alive: it closes it under a client
//! that is about to reuse it, and that client's next request fails with a broken pipe.
//! Reading the body first keeps every refusal a clean answer on a live connection; a body
//! over the limit is answered 413 here (as a JSON-RPC error on `/mcp`) with
//! `Connection: close`, since the rest of it was never read.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use serde_json::Value;

use super::guard::{jsonrpc_error, MAX_BODY_BYTES};

/// The layer.
pub async fn read_first(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let mcp = req.uri().path() == "/mcp";
    let (parts, body) = req.into_parts();
    match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(read) => {
            next.run(Request::from_parts(parts, Body::from(read.to_bytes())))
                .await
        }
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let (status, code, message) = if too_large {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "Request body exceeds the {} MiB limit",
                        MAX_BODY_BYTES >> 20
                    ),
                )
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    "bad_body",
                    format!("Could not read the request body: {e}"),
                )
            };
            let mut resp = if mcp {
                let rpc_code = if too_large { -32600 } else { -32700 };
                jsonrpc_error(status, Value::Null, rpc_code, message)
            } else {
                super::actions::error(status, code, message)
            };
            // The rest of the body was never read, so this connection cannot carry another
            // request: say so, or the client would reuse it and fail on the next request.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
    }
}
