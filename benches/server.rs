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

use serde_json::{json, Value};

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
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// One plain HTTP/1 keep-alive connection per load worker: far lighter than a pooled
/// reqwest client, so the load generator takes less of the CPU the server needs.
struct Connections {
    senders: Vec<tokio::sync::Mutex<Sender>>,
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
            let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            senders.push(tokio::sync::Mutex::new(sender));
        }
        Arc::new(Connections { senders })
    }

    /// Sends `req` on worker `w`'s connection; returns the status and the whole body.
    async fn send(
        &self,
        w: usize,
        req: http::Request<http_body_util::Full<bytes::Bytes>>,
    ) -> (http::StatusCode, bytes::Bytes) {
        use http_body_util::BodyExt;
        let mut sender = self.senders[w].lock().await;
        sender.ready().await.unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let status = resp.status();
        (status, resp.into_body().collect().await.unwrap().to_bytes())
    }
}

async fn session(http: &reqwest::Client, mcp: &str) -> String {
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}});
    let resp = http
        .post(mcp)
        .bearer_auth(KEY)
        .header("accept", "application/json")
        .json(&init)
        .send()
        .await
        .unwrap();
    let sid = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    resp.bytes().await.unwrap();
    http.post(mcp)
        .bearer_auth(KEY)
        .header("accept", "application/json")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .send()
        .await
        .unwrap();
    sid
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

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` also runs bench targets: measure only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmarks run with `cargo bench --bench server`");
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
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
    let mut sessions = Vec::new();
    for _ in 0..64 {
        sessions.push(session(&http, &mcp).await);
    }
    let sessions = Arc::new(sessions);
    let sessions_for_end = sessions.clone();
    let via_conns = Connections::open(&mcp, 64).await;
    let ids = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let via_call = move |w: usize| {
        let (conns, sessions, ids) = (via_conns.clone(), sessions.clone(), ids.clone());
        async move {
            let id = ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"coda_get_document","arguments":{{"docId":"AbCDeFGH01"}}}}}}"#
            );
            let req = http::Request::post("/mcp")
                .header("host", "127.0.0.1")
                .header("authorization", format!("Bearer {KEY}"))
                .header("accept", "application/json")
                .header("content-type", "application/json")
                .header("mcp-session-id", &sessions[w])
                .header("mcp-protocol-version", "2025-06-18")
                .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                .unwrap();
            let (status, body) = conns.send(w, req).await;
            assert!(status.is_success());
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["result"]["isError"], false);
        }
    };
    // Warm both paths (connections, caches) before measuring.
    load(64, 640, None, direct_call.clone()).await;
    load(64, 640, None, via_call.clone()).await;
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
    let row = |label: String, direct: &[Duration], via: &[Duration], rate: String| {
        let (d50, d99, v50, v99) = (
            percentile(direct, 0.5),
            percentile(direct, 0.99),
            percentile(via, 0.5),
            percentile(via, 0.99),
        );
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} | {rate} |",
            ms(d50),
            ms(d99),
            ms(v50),
            ms(v99),
            ms(v50.saturating_sub(d50)),
            ms(v99.saturating_sub(d99)),
        );
    };

    println!("Closed loop (each session sends its next call when the last one returns: capacity)");
    println!();
    println!("| sessions | direct p50 | direct p99 | via server p50 | via server p99 | overhead p50 | overhead p99 | calls/s via server |");
    println!("|---|---|---|---|---|---|---|---|");
    for concurrency in [1usize, 16, 64] {
        let (direct, _) = load(concurrency, total, None, direct_call.clone()).await;
        let (via, wall) = load(concurrency, total, None, via_call.clone()).await;
        let rate = format!("{:.0}", via.len() as f64 / wall.as_secs_f64());
        row(concurrency.to_string(), &direct, &via, rate);
    }

    println!();
    println!(
        "Open loop (64 sessions sending on a fixed schedule: what the server adds at that load)"
    );
    println!();
    println!("| offered calls/s | direct p50 | direct p99 | via server p50 | via server p99 | overhead p50 | overhead p99 | sessions |");
    println!("|---|---|---|---|---|---|---|---|");
    for rate in [500.0, 1_000.0, 2_000.0] {
        let calls = ((rate * if quick { 2.0 } else { 6.0 }) as usize / 64) * 64;
        let (direct, _) = load(64, calls, Some(rate), direct_call.clone()).await;
        let (via, _) = load(64, calls, Some(rate), via_call.clone()).await;
        row(format!("{rate:.0}"), &direct, &via, "64".into());
    }
    println!();

    // The sessions above end, so that what follows measures the streams alone.
    for sid in sessions_for_end.iter() {
        let _ = http
            .delete(&mcp)
            .bearer_auth(KEY)
            .header("mcp-session-id", sid)
            .header("mcp-protocol-version", "2025-06-18")
            .send()
            .await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after_calls_rss = rss_kb(pid);

    // 1,000 sessions, each holding a GET SSE stream.
    let streams = if quick { 200 } else { 1_000 };
    let mut held = Vec::new();
    for _ in 0..streams {
        let sid = session(&http, &mcp).await;
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
