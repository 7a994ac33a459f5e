//! In-process stdio: the gate between the client's lines and rmcp. rmcp drops a line that is
//! not JSON without a word and answers a request sent before `initialize` with a message about
//! `_meta` fields; a person typing into `coda-mcp stdio`, or a client with a bug, deserves to
//! be told what went wrong. The gate answers those itself (JSON-RPC errors on stdout, one line
//! each) and hands rmcp only messages it can serve, one line at a time, each bounded in size.

use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// The longest line (one message) taken: the same bound as rmcp's.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// JSON-RPC's "invalid request" code.
const INVALID_REQUEST: i64 = -32600;

/// What the gate does with one line.
#[derive(Debug, PartialEq)]
pub(super) enum Verdict {
    /// Hand the line to rmcp.
    Forward,
    /// Answer this on stdout instead.
    Answer(Value),
    /// Nothing to do (a blank line; a notification or response before `initialize`).
    Skip,
}

/// Whether the session has started: `initialize` was passed on.
#[derive(Debug, Default)]
pub(super) struct Gate {
    initialized: bool,
}

fn error(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

impl Gate {
    /// Decides what to do with one line from the client.
    pub(super) fn judge(&mut self, line: &str) -> Verdict {
        if line.trim().is_empty() {
            return Verdict::Skip;
        }
        let message: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                return Verdict::Answer(error(
                    Value::Null,
                    -32700,
                    format!("Parse error: a line that is not JSON ({e}); send one JSON-RPC message per line"),
                ))
            }
        };
        let Some(object) = message.as_object() else {
            let why = if message.is_array() {
                "batches are not supported: send one JSON-RPC message per line"
            } else {
                "a JSON-RPC message is an object"
            };
            return Verdict::Answer(error(
                Value::Null,
                INVALID_REQUEST,
                format!("Invalid Request: {why}"),
            ));
        };
        let id = object
            .get("id")
            .filter(|id| id.is_string() || id.is_number())
            .cloned();
        let method = object.get("method").and_then(Value::as_str);
        if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return match id {
                Some(id) => Verdict::Answer(error(
                    id,
                    INVALID_REQUEST,
                    "Invalid Request: \"jsonrpc\": \"2.0\" is missing".into(),
                )),
                None => Verdict::Answer(error(
                    Value::Null,
                    INVALID_REQUEST,
                    "Invalid Request: not a JSON-RPC 2.0 message (\"jsonrpc\": \"2.0\" and a \"method\" are required)".into(),
                )),
            };
        }
        if method == Some("initialize") {
            self.initialized = true;
            return Verdict::Forward;
        }
        if self.initialized {
            return Verdict::Forward;
        }
        match (method, id) {
            (Some("ping"), Some(id)) => {
                Verdict::Answer(json!({"jsonrpc": "2.0", "id": id, "result": {}}))
            }
            // The 2026-07-28 revision: a request that carries its own protocol version and
            // capabilities needs no session.
            (Some(_), Some(_))
                if object
                    .get("params")
                    .and_then(|p| p.get("_meta"))
                    .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
                    .is_some() =>
            {
                Verdict::Forward
            }
            (Some(method), Some(id)) => Verdict::Answer(error(
                id,
                INVALID_REQUEST,
                format!(
                    "the session has not started, so `{method}` cannot be served yet: send `initialize` first \
                     (or, with protocol 2026-07-28, give each request params._meta with \
                     io.modelcontextprotocol/protocolVersion and io.modelcontextprotocol/clientCapabilities)"
                ),
            )),
            _ => Verdict::Skip,
        }
    }
}

/// One line read with a bound.
enum Line {
    Text(Vec<u8>),
    TooLong,
    End,
}

/// Reads up to the next newline, keeping at most `max` bytes (the rest of a longer line is
/// read and dropped, so the next line starts clean).
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, max: usize) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::End,
                (false, false) => Line::Text(line),
            });
        }
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if !too_long && line.len() + part.len() <= max {
            line.extend_from_slice(part);
        } else {
            too_long = true;
            line = Vec::new();
        }
        let used = done.unwrap_or(chunk.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Text(line)
            });
        }
    }
}

/// Writes one message line to the client, whole (answers of rmcp and of the gate never mix).
async fn write_line<W: AsyncWrite + Unpin>(out: &Mutex<W>, line: &[u8]) -> std::io::Result<()> {
    let mut out = out.lock().await;
    out.write_all(line).await?;
    out.write_all(b"\n").await?;
    out.flush().await
}

/// Runs the gate between the client (`input`, `output`) and rmcp (`to_rmcp`, `from_rmcp`)
/// until the client's input ends and rmcp has nothing more to say. Answers whether the client
/// ever started a session (sent `initialize`).
pub(super) async fn run<I, O, T, F>(input: I, output: O, mut to_rmcp: T, from_rmcp: F) -> bool
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
    T: AsyncWrite + Unpin + Send + 'static,
    F: AsyncRead + Unpin + Send + 'static,
{
    let output = std::sync::Arc::new(Mutex::new(output));
    let relay_out = {
        let output = output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(from_rmcp).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if write_line(&output, line.as_bytes()).await.is_err() {
                    break;
                }
            }
        })
    };
    let mut gate = Gate::default();
    let mut input = BufReader::new(input);
    loop {
        let verdict = match read_line(&mut input, MAX_LINE_BYTES).await {
            Ok(Line::End) | Err(_) => break,
            Ok(Line::TooLong) => Verdict::Answer(error(
                Value::Null,
                INVALID_REQUEST,
                format!(
                    "Invalid Request: a message longer than {} MiB was dropped",
                    MAX_LINE_BYTES >> 20
                ),
            )),
            Ok(Line::Text(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => {
                    let verdict = gate.judge(text.trim_end_matches('\r'));
                    if verdict == Verdict::Forward
                        && (to_rmcp.write_all(&bytes).await.is_err()
                            || to_rmcp.write_all(b"\n").await.is_err()
                            || to_rmcp.flush().await.is_err())
                    {
                        break;
                    }
                    verdict
                }
                Err(_) => Verdict::Answer(error(
                    Value::Null,
                    -32700,
                    "Parse error: a line that is not UTF-8 text".into(),
                )),
            },
        };
        if let Verdict::Answer(answer) = verdict {
            if write_line(&output, answer.to_string().as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    }
    // The client is done: rmcp sees the end of its input and finishes what it has.
    let _ = to_rmcp.shutdown().await;
    drop(to_rmcp);
    let _ = relay_out.await;
    gate.initialized
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(v: &Verdict) -> i64 {
        match v {
            Verdict::Answer(a) => a["error"]["code"].as_i64().unwrap_or(0),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn lines_rmcp_would_drop_or_misexplain_are_answered_here() {
        let mut gate = Gate::default();
        assert_eq!(gate.judge("   "), Verdict::Skip);
        assert_eq!(code(&gate.judge("hello")), -32700);
        assert_eq!(code(&gate.judge("[1,2]")), -32600);
        assert_eq!(
            code(&gate.judge(r#"{"id":1,"method":"tools/list"}"#)),
            -32600
        );
        // Before initialize: a request is told to initialize first, with its id; a ping is
        // answered; notifications and stray responses are dropped.
        let early = gate.judge(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#);
        let Verdict::Answer(answer) = &early else {
            panic!("{early:?}")
        };
        assert_eq!(answer["id"], 7);
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("send `initialize` first"), "{message}");
        assert_eq!(
            gate.judge(r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#),
            Verdict::Answer(json!({"jsonrpc":"2.0","id":"p","result":{}}))
        );
        assert_eq!(
            gate.judge(r#"{"jsonrpc":"2.0","method":"notifications/cancelled"}"#),
            Verdict::Skip
        );
        // A stateless (2026-07-28) request carries its own version: rmcp serves it.
        assert_eq!(
            gate.judge(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#),
            Verdict::Forward
        );
        assert_eq!(
            gate.judge(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#),
            Verdict::Forward
        );
        assert_eq!(
            gate.judge(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#),
            Verdict::Forward
        );
        // Still a parse error after the start.
        assert_eq!(code(&gate.judge("{not json")), -32700);
    }

    #[tokio::test]
    async fn an_over_long_line_is_dropped_and_the_next_one_read_whole() {
        let data = format!("{}\nshort\n", "x".repeat(100));
        let mut reader = BufReader::with_capacity(8, data.as_bytes());
        assert!(matches!(
            read_line(&mut reader, 10).await.unwrap(),
            Line::TooLong
        ));
        match read_line(&mut reader, 10).await.unwrap() {
            Line::Text(t) => assert_eq!(t, b"short"),
            _ => panic!("the next line must be read whole"),
        }
        assert!(matches!(
            read_line(&mut reader, 10).await.unwrap(),
            Line::End
        ));
    }
}
