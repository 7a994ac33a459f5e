//! `cargo bench --bench server`: the server's own cost, measured against a loopback upstream
//! (the demo workspace in its own process, without rate limits) and printed as a table.
//!
//! - tools/call overhead: the same `getDoc` made directly vs through `coda-mcp serve`
//!   (MCP `tools/call` over HTTP), at 1, 16 and 64 concurrent sessions: p50, p99, calls/s;
//! - memory: the server's RSS idle, with 1,000 sessions each holding a GET SSE stream, and
//!   after they are gone;
//! - time from process start to ready.
//!
//! The load generator holds one plain HTTP/1 keep-alive connection per worker (hyper), so it
//! takes as little as possible of the CPU that the server and upstream share with it.
//!
//! `cargo bench --bench server -- --quick` runs a smaller version.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

const KEY: &str = "cmk_benchmark-key-not-a-secret-0123456789abcdef";

fn bin() -> String {
    std::env::var("CODA_MCP_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_coda-mcp").to_owned())
}

struct Proc {
    child: Child,
    line: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str], envs: &[(&str, &str)]) -> (Proc, Duration) {
    let started = Instant::now();
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("CODA_MCP_KEYCHAIN", "off")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .expect("spawn coda-mcp (build it with `cargo build --release` first)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Proc { child, line }, started.elapsed())
}

fn url_in(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches(')')
        .to_owned()
}

/// The path part of a loopback URL (`http://127.0.0.1:1234/apis/v1` → `/apis/v1`).
fn path_of(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    rest.find('/')
        .map_or("/".to_owned(), |i| rest[i..].to_owned())
}

fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

/// The process's private, anonymous resident memory (heap, stacks): what it holds itself, as
/// opposed to the pages of its program and libraries that RSS also counts.
fn anon_kb(pid: u32) -> u64 {
    status_kb(pid, "RssAnon:")
}

fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// One plain HTTP/1 keep-alive connection per load worker: far lighter than a pooled
/// reqwest client, so the load generator takes less of the CPU the server needs. A connection
/// the server closed (an idle kept-alive one: uvicorn closes those after 5 s) is opened again,
/// as every client library's pool does.
struct Connections {
    addr: String,
    senders: Vec<tokio::sync::Mutex<Option<Sender>>>,
}

async fn connect(addr: &str) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

impl Connections {
    async fn open(url: &str, count: usize) -> Arc<Connections> {
        let addr = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let mut senders = Vec::with_capacity(count);
        for _ in 0..count {
            senders.push(tokio::sync::Mutex::new(Some(connect(&addr).await)));
        }
        Arc::new(Connections { addr, senders })
    }

    /// Sends `req` on worker `w`'s connection; returns the status and the whole body.
    async fn send(
        &self,
        w: usize,
        req: http::Request<http_body_util::Full<bytes::Bytes>>,
    ) -> (http::StatusCode, bytes::Bytes) {
        use http_body_util::BodyExt;
        let mut slot = self.senders[w].lock().await;
        let mut req = Some(req);
        for _ in 0..2 {
            if slot.as_ref().is_none_or(|s| s.is_closed()) {
                *slot = Some(connect(&self.addr).await);
            }
            let sender = slot.as_mut().expect("connected");
            if sender.ready().await.is_err() {
                *slot = None;
                continue;
            }
            match sender
                .try_send_request(req.take().expect("one request"))
                .await
            {
                Ok(resp) => {
                    let status = resp.status();
                    return (status, resp.into_body().collect().await.unwrap().to_bytes());
                }
                // Closed before the request went out: send it again on a new connection.
                Err(mut e) => match e.take_message() {
                    Some(back) => {
                        req = Some(back);
                        *slot = None;
                    }
                    None => panic!("request failed: {}", e.into_error()),
                },
            }
        }
        panic!("no connection to {}", self.addr);
    }
}

/// What every real MCP client sends as `Accept` (the Python and TypeScript SDKs, ChatGPT,
/// Claude, the Inspector, `mcp-remote`): answers then come as SSE.
const CLIENTS_ACCEPT: &str = "application/json, text/event-stream";
/// What a plain JSON client sends (GPT Actions, scripts): answers come as one JSON body.
const JSON_ONLY: &str = "application/json";

/// An MCP server under load: where it is, how a caller authenticates, the `getDoc` call it
/// answers (each server names the tool and its argument its own way), and its sessions.
struct Target {
    mcp: String,
    bearer: Option<String>,
    call: String,
    /// Sessions opened so far (ended by [`Target::end_sessions`]).
    opened: std::sync::Mutex<Vec<String>>,
}

impl Target {
    /// Opens a session as a client does: `initialize`, then `notifications/initialized`.
    async fn session(&self, http: &reqwest::Client) -> String {
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}});
        let mut req = http
            .post(&self.mcp)
            .header("accept", CLIENTS_ACCEPT)
            .json(&init);
        if let Some(b) = &self.bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_success(), "initialize: {}", resp.status());
        let sid = resp.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        resp.bytes().await.unwrap();
        let mut req = http
            .post(&self.mcp)
            .header("accept", CLIENTS_ACCEPT)
            .header("mcp-session-id", &sid)
            .header("mcp-protocol-version", "2025-06-18")
            .json(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        if let Some(b) = &self.bearer {
            req = req.bearer_auth(b);
        }
        req.send().await.unwrap();
        self.opened.lock().unwrap().push(sid.clone());
        sid
    }

    /// Ends every session opened so far, as clients do (`DELETE /mcp`).
    async fn end_sessions(&self, http: &reqwest::Client) {
        let sessions: Vec<String> = self.opened.lock().unwrap().drain(..).collect();
        for sid in sessions {
            let mut req = http
                .delete(&self.mcp)
                .header("mcp-session-id", sid)
                .header("mcp-protocol-version", "2025-06-18");
            if let Some(b) = &self.bearer {
                req = req.bearer_auth(b);
            }
            let _ = req.send().await;
        }
    }

    /// The load function: `tools/call` of the target's `getDoc` in worker `w`'s session, on
    /// its own kept-alive connection, with `accept`; checks the answer.
    async fn caller(
        self: Arc<Self>,
        http: &reqwest::Client,
        workers: usize,
        accept: &'static str,
    ) -> impl Fn(usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
           + Send
           + Sync
           + Clone
           + 'static {
        let mut sessions = Vec::new();
        for _ in 0..workers {
            sessions.push(self.session(http).await);
        }
        let sessions = Arc::new(sessions);
        let conns = Connections::open(&self.mcp, workers).await;
        let path = format!(
            "/{}",
            self.mcp
                .trim_start_matches("http://")
                .split_once('/')
                .map_or("", |(_, p)| p)
        );
        let ids = Arc::new(std::sync::atomic::AtomicU64::new(1));
        move |w: usize| {
            let (conns, sessions, ids, target, path) = (
                conns.clone(),
                sessions.clone(),
                ids.clone(),
                self.clone(),
                path.clone(),
            );
            Box::pin(async move {
                let id = ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let body = target.call.replace("\"id\":0", &format!("\"id\":{id}"));
                let mut req = http::Request::post(path)
                    .header("host", "127.0.0.1")
                    .header("accept", accept)
                    .header("content-type", "application/json")
                    .header("mcp-session-id", &sessions[w])
                    .header("mcp-protocol-version", "2025-06-18");
                if let Some(b) = &target.bearer {
                    req = req.header("authorization", format!("Bearer {b}"));
                }
                let req = req
                    .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                    .unwrap();
                let (status, body) = conns.send(w, req).await;
                assert!(status.is_success(), "{status}");
                let text = String::from_utf8_lossy(&body);
                assert!(
                    text.contains("AbCDeFGH01") && !text.contains("\"isError\":true"),
                    "{text}"
                );
            })
        }
    }
}

/// Runs `total` requests from `workers` workers and returns the sorted latencies and the wall
/// time.
///
/// Without a rate it is a closed loop: each worker sends its next request when the last one
/// returns, which measures capacity. With `rate` (requests per second, all workers together)
/// it is an open loop: each worker sends on its own schedule (a late request goes at once,
/// so the offered rate holds while the server keeps up), which measures what the server adds
/// at that load. A latency runs from the send, not from the timer's wake-up, whose
/// millisecond granularity would otherwise dominate.
async fn load<F, Fut>(
    workers: usize,
    total: usize,
    rate: Option<f64>,
    make: F,
) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let make = Arc::new(make);
    let per = total / workers;
    let started = Instant::now();
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let interval = rate.map(|r| Duration::from_secs_f64(workers as f64 / r));
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let make = make.clone();
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(per);
                for i in 0..per {
                    if let Some(interval) = interval {
                        // Workers' first sends are spread across one interval.
                        let offset = interval.mul_f64(w as f64 / workers as f64);
                        tokio::time::sleep_until(start + offset + interval * i as u32).await;
                    }
                    let sent = Instant::now();
                    make(w).await;
                    times.push(sent.elapsed());
                }
                times
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all.sort();
    (all, started.elapsed())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// p50, p99 and calls/s of one run.
fn figures(times: &[Duration], wall: Duration) -> (Duration, Duration, f64) {
    (
        percentile(times, 0.5),
        percentile(times, 0.99),
        times.len() as f64 / wall.as_secs_f64(),
    )
}

/// A free loopback port (for a program that must be told one).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The open-source peer `mcp-coda` (Python, FastMCP), started as `command` over Streamable
/// HTTP against the same upstream; waits until it answers `initialize`.
async fn start_peer(command: &str, upstream: &str, http: &reqwest::Client) -> (Proc, Target) {
    let port = free_port();
    let mut parts = command.split_whitespace();
    let child = Command::new(parts.next().expect("a command"))
        .args(parts)
        .args(["--transport", "streamable-http", "--host", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .env("CODA_BASE_URL", upstream)
        .env("CODA_API_TOKEN", "demo-token-not-a-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the peer starts (benches/peer.sh installs it)");
    // Killed when dropped, whatever happens below.
    let child = Proc {
        child,
        line: String::new(),
    };
    let target = Target {
        mcp: format!("http://127.0.0.1:{port}/mcp"),
        bearer: None,
        call: json!({"jsonrpc":"2.0","id":0,"method":"tools/call","params":{"name":"coda_get_doc","arguments":{"doc_id":"AbCDeFGH01"}}}).to_string(),
        opened: Default::default(),
    };
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}});
    for _ in 0..300 {
        let ready = http
            .post(&target.mcp)
            .header("accept", CLIENTS_ACCEPT)
            .json(&init)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return (child, target);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the peer did not answer at {}", target.mcp);
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` also runs bench targets: measure only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmarks run with `cargo bench --bench server`");
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    // The peer to measure beside us (benches/peer.sh sets it): the command that runs it.
    let peer = std::env::var("CODA_MCP_PEER")
        .ok()
        .filter(|p| !p.is_empty());
    let total = if quick { 800 } else { 6_400 };
    let (upstream, _) = spawn(&["demo", "--port", "0", "--unlimited"], &[]);
    let demo = url_in(&upstream.line);
    let (server, _) = spawn(
        &[
            "serve",
            "--port",
            "0",
            "--coda-base-url",
            &demo,
            "--no-pacing",
            "--client-rate",
            "0",
            "--max-sessions",
            "5000",
        ],
        &[
            ("CODA_API_TOKEN", "demo-token-not-a-secret"),
            ("CODA_MCP_KEY", KEY),
            ("CODA_MCP_DATA_DIR", "/tmp/coda-mcp-bench"),
        ],
    );
    let mcp = url_in(&server.line);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss = rss_kb(pid);
    let idle_anon = anon_kb(pid);

    let direct_path = format!("{}/docs/AbCDeFGH01", path_of(&demo));
    let direct_conns = Connections::open(&demo, 64).await;
    let direct_call = move |w: usize| {
        let (conns, path) = (direct_conns.clone(), direct_path.clone());
        async move {
            let req = http::Request::get(path)
                .header("host", "127.0.0.1")
                .header("authorization", "Bearer demo-token-not-a-secret")
                .body(http_body_util::Full::default())
                .unwrap();
            let (status, _) = conns.send(w, req).await;
            assert!(status.is_success());
        }
    };
    let ours = Arc::new(Target {
        mcp: mcp.clone(),
        bearer: Some(KEY.to_owned()),
        call: json!({"jsonrpc":"2.0","id":0,"method":"tools/call","params":{"name":"coda_get_document","arguments":{"docId":"AbCDeFGH01"}}}).to_string(),
        opened: Default::default(),
    });
    let via_sse = ours.clone().caller(&http, 64, CLIENTS_ACCEPT).await;
    let via_json = ours.clone().caller(&http, 64, JSON_ONLY).await;
    // Warm every path (connections, caches) before measuring.
    load(64, 640, None, direct_call.clone()).await;
    load(64, 640, None, via_sse.clone()).await;
    load(64, 640, None, via_json.clone()).await;

    println!("Closed loop (each session sends its next call when the last one returns: capacity), `getDoc` through `tools/call`, one kept-alive connection per session");
    println!();
    println!("| sessions | direct p50 | direct p99 | clients' Accept (SSE answer) p50 | p99 | calls/s | JSON-only Accept p50 | p99 | calls/s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for concurrency in [1usize, 16, 64] {
        let (direct, _) = load(concurrency, total, None, direct_call.clone()).await;
        let (sse, sse_wall) = load(concurrency, total, None, via_sse.clone()).await;
        let (json_only, json_wall) = load(concurrency, total, None, via_json.clone()).await;
        let (s50, s99, srate) = figures(&sse, sse_wall);
        let (j50, j99, jrate) = figures(&json_only, json_wall);
        println!(
            "| {concurrency} | {} | {} | {} | {} | {srate:.0} | {} | {} | {jrate:.0} |",
            ms(percentile(&direct, 0.5)),
            ms(percentile(&direct, 0.99)),
            ms(s50),
            ms(s99),
            ms(j50),
            ms(j99),
        );
    }

    println!();
    println!("Open loop (64 sessions sending on a fixed schedule, clients' Accept: what the server adds at that load)");
    println!();
    println!("| offered calls/s | direct p50 | direct p99 | via server p50 | via server p99 | overhead p50 | overhead p99 |");
    println!("|---|---|---|---|---|---|---|");
    for rate in [500.0, 1_000.0, 2_000.0] {
        let calls = ((rate * if quick { 2.0 } else { 6.0 }) as usize / 64) * 64;
        let (direct, _) = load(64, calls, Some(rate), direct_call.clone()).await;
        let (via, _) = load(64, calls, Some(rate), via_sse.clone()).await;
        let (d50, d99, v50, v99) = (
            percentile(&direct, 0.5),
            percentile(&direct, 0.99),
            percentile(&via, 0.5),
            percentile(&via, 0.99),
        );
        println!(
            "| {rate:.0} | {} | {} | {} | {} | {} | {} |",
            ms(d50),
            ms(d99),
            ms(v50),
            ms(v99),
            ms(v50.saturating_sub(d50)),
            ms(v99.saturating_sub(d99))
        );
    }
    println!();

    // The sessions above end, so that what follows measures the streams alone.
    drop(via_sse);
    drop(via_json);
    ours.end_sessions(&http).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after_calls_rss = rss_kb(pid);

    if let Some(command) = &peer {
        let (peer_child, peer_target) = start_peer(command, &demo, &http).await;
        let peer_target = Arc::new(peer_target);
        let peer_pid = peer_child.child.id();
        let peer_idle = (rss_kb(peer_pid), anon_kb(peer_pid));
        let ours_idle = (idle_rss, idle_anon);
        let peer_call = peer_target.clone().caller(&http, 16, CLIENTS_ACCEPT).await;
        // Ours with the same sixteen fresh sessions, so that both hold the same afterwards.
        let ours_call = ours.clone().caller(&http, 16, CLIENTS_ACCEPT).await;
        load(16, 320, None, peer_call.clone()).await;
        load(16, 320, None, ours_call.clone()).await;
        println!("Side by side with the peer `mcp-coda` (Python, FastMCP) in the same run: the same upstream, the same load generator, the same call (`getDoc`), the clients' Accept, one kept-alive connection per session");
        println!();
        println!("| connections | ours p50 | ours p99 | ours calls/s | peer p50 | peer p99 | peer calls/s | p50: ours / peer | calls/s: ours / peer |");
        println!("|---|---|---|---|---|---|---|---|---|");
        let peer_total = if quick { 200 } else { 1_600 };
        for concurrency in [1usize, 16] {
            let (o, ow) = load(concurrency, peer_total, None, ours_call.clone()).await;
            let (p, pw) = load(concurrency, peer_total, None, peer_call.clone()).await;
            let (o50, o99, orate) = figures(&o, ow);
            let (p50, p99, prate) = figures(&p, pw);
            println!(
                "| {concurrency} | {} | {} | {orate:.0} | {} | {} | {prate:.0} | {:.2} | {:.1}× |",
                ms(o50),
                ms(o99),
                ms(p50),
                ms(p99),
                o50.as_secs_f64() / p50.as_secs_f64(),
                orate / prate
            );
        }
        let ours_after = (rss_kb(pid), anon_kb(pid));
        let peer_after = (rss_kb(peer_pid), anon_kb(peer_pid));
        println!();
        println!("| memory | RSS idle | RSS after the load (its 16 sessions still open) | of which anonymous (heap, stacks), idle | after the load |");
        println!("|---|---|---|---|---|");
        let mb = |kb: u64| format!("{:.1} MB", kb as f64 / 1024.0);
        for (name, idle, after) in [
            ("coda-mcp serve", ours_idle, ours_after),
            ("mcp-coda (peer)", peer_idle, peer_after),
        ] {
            println!(
                "| {name} | {} | {} | {} | {} |",
                mb(idle.0),
                mb(after.0),
                mb(idle.1),
                mb(after.1)
            );
        }
        let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
        println!(
            "| ours / peer | {:.2} | {:.2} | {:.2} | {:.2} |",
            ratio(ours_idle.0, peer_idle.0),
            ratio(ours_after.0, peer_after.0),
            ratio(ours_idle.1, peer_idle.1),
            ratio(ours_after.1, peer_after.1)
        );
        println!();
        drop(peer_child);
        drop(ours_call);
        ours.end_sessions(&http).await;
    }

    // 1,000 sessions, each holding a GET SSE stream.
    let streams = if quick { 200 } else { 1_000 };
    let mut held = Vec::new();
    for _ in 0..streams {
        let sid = ours.session(&http).await;
        let resp = http
            .get(&mcp)
            .bearer_auth(KEY)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &sid)
            .header("mcp-protocol-version", "2025-06-18")
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        held.push((sid, resp));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busy_rss = rss_kb(pid);
    for (sid, resp) in held.drain(..) {
        drop(resp);
        let _ = http
            .delete(&mcp)
            .bearer_auth(KEY)
            .header("mcp-session-id", sid)
            .header("mcp-protocol-version", "2025-06-18")
            .send()
            .await;
    }
    // The server gives freed session memory back within seconds (src/http/memory.rs).
    let mut after_rss = rss_kb(pid);
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        after_rss = after_rss.min(rss_kb(pid));
    }
    println!();
    println!("| memory (RSS) | idle | after the calls above, their sessions ended | {streams} sessions with SSE streams | after they end |");
    println!("|---|---|---|---|---|");
    let mb = |kb: u64| format!("{:.1} MB", kb as f64 / 1024.0);
    println!(
        "| coda-mcp serve | {} | {} | {} | {} |",
        mb(idle_rss),
        mb(after_calls_rss),
        mb(busy_rss),
        mb(after_rss)
    );

    let mut starts: Vec<Duration> = (0..if quick { 5 } else { 15 })
        .map(|_| {
            let (p, t) = spawn(
                &["serve", "--demo", "--port", "0"],
                &[
                    ("CODA_MCP_KEY", KEY),
                    ("CODA_MCP_DATA_DIR", "/tmp/coda-mcp-bench"),
                ],
            );
            drop(p);
            t
        })
        .collect();
    starts.sort();
    println!();
    println!("| start to ready | median | best | worst |");
    println!("|---|---|---|---|");
    println!(
        "| coda-mcp serve --demo | {:.1} ms | {:.1} ms | {:.1} ms |",
        percentile(&starts, 0.5).as_secs_f64() * 1000.0,
        starts[0].as_secs_f64() * 1000.0,
        starts[starts.len() - 1].as_secs_f64() * 1000.0
    );
}
