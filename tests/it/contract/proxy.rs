//! A recording proxy between the server and the demo workspace: it forwards every request
//! unchanged over real HTTP on loopback and keeps each API exchange (what the client sent,
//! what the demo answered) for the contract check.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use coda_mcp::EngineConfig;

use super::spec::Exchange;

/// The exchanges seen so far, across every proxy attached with it.
#[derive(Default)]
pub struct Recorder {
    exchanges: Mutex<Vec<Exchange>>,
}

impl Recorder {
    /// Everything recorded.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }
}

#[derive(Clone)]
struct Upstream {
    /// `http://127.0.0.1:P` of the demo.
    origin: String,
    /// The API's base path (`/apis/v1`).
    base_path: String,
    http: reqwest::Client,
    log: Arc<Recorder>,
}

/// Starts a proxy in front of the Coda API `config` points at and points `config` at it.
pub fn attach(config: &mut EngineConfig, log: Arc<Recorder>) {
    let upstream = url::Url::parse(&config.coda_base_url).expect("the demo's URL");
    let base_path = upstream.path().trim_end_matches('/').to_owned();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
    let state = Upstream {
        origin: upstream.origin().ascii_serialization(),
        base_path: base_path.clone(),
        http: reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        log,
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    // The proxy lives as long as the test's runtime.
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    config.coda_base_url = format!("http://{addr}{base_path}");
}

const MAX_BODY: usize = 16 * 1024 * 1024;

async fn forward(State(up): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .expect("a request body within 16 MiB");
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let mut outgoing = up.http.request(
        parts.method.clone(),
        format!("{}{path_and_query}", up.origin),
    );
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing
        .body(body.clone())
        .send()
        .await
        .expect("the demo answers");
    let status = answer.status();
    let headers = answer.headers().clone();
    let answer_body = answer.bytes().await.expect("the demo's body");
    if let Some(path) = parts.uri.path().strip_prefix(&up.base_path) {
        let text = |h: &axum::http::HeaderMap| {
            h.get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        up.log.exchanges.lock().unwrap().push(Exchange {
            method: parts.method.to_string(),
            path: path.to_owned(),
            query: url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            request_type: text(&parts.headers),
            request_body: body.to_vec(),
            status: status.as_u16(),
            response_type: text(&headers),
            response_body: answer_body.to_vec(),
        });
    }
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if name != axum::http::header::CONTENT_LENGTH
            && name != axum::http::header::TRANSFER_ENCODING
        {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(answer_body)).unwrap()
}
