//! Tool calls for the ChatGPT faces (GPT Actions, the direct-call flow), bounded: in time
//! (the engine's call deadline, a soft one told to the tool and a hard one that answers
//! without cancelling), in number ([`RunningCalls`]: per guest and in all) and in size
//! ([`fit`]: an answer cut cleanly under ChatGPT's 100,000 characters). Engine policy, so
//! every HTTP route that serves ChatGPT applies the same rules.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::caller::{Caller, Principal};
use crate::engine::{Engine, ToolCall};
use crate::tools::{ExecOptions, ToolError, ToolOutput};

/// ChatGPT reads at most 100,000 characters of a response; answers stay under it with room.
pub const MAX_RESPONSE_CHARS: usize = 99_000;
/// Long strings are never cut shorter than this when a result must shrink.
const MIN_STRING: usize = 100;

/// What became of a call run against the call deadline.
pub enum Bounded {
    /// It finished (possibly early, with "still processing" writes) in time.
    Done(Result<ToolOutput, ToolError>),
    /// It is still running after the hard deadline (the given time). It is not cancelled —
    /// a write already sent must not be abandoned halfway — and finishes in the background.
    StillRunning(
        tokio::task::JoinHandle<Result<ToolOutput, ToolError>>,
        Duration,
    ),
}

/// Calls running through the ChatGPT faces (GPT Actions and direct calls), counted from their
/// start until their task really ends — past the hard deadline too, since such a call is
/// answered "still processing" but never cancelled. How many there may be is bounded:
/// [`MAX_CALLS_PER_GUEST`] for each pass-through caller, [`MAX_CALLS`] in all, and the owner
/// may use the whole of it. A caller at its bound gets a clear tool error for new calls until
/// one ends.
#[derive(Default)]
pub struct RunningCalls {
    running: std::sync::Mutex<std::collections::HashMap<Principal, usize>>,
}

/// Most calls running at once, in all …
pub const MAX_CALLS: usize = 64;
/// … and for one caller other than the owner.
pub const MAX_CALLS_PER_GUEST: usize = 8;

/// One call counted as running until dropped.
struct RunningCall {
    calls: Arc<RunningCalls>,
    principal: Principal,
}

impl Drop for RunningCall {
    fn drop(&mut self) {
        let mut running = self.calls.running.lock().expect("running calls");
        if let Some(n) = running.get_mut(&self.principal) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.principal);
            }
        }
    }
}

impl RunningCalls {
    /// Counts a new call for `principal`, or says why it may not start.
    fn start(self: &Arc<Self>, principal: Principal) -> Result<RunningCall, String> {
        let mut running = self.running.lock().expect("running calls");
        let all: usize = running.values().sum();
        let mine = running.get(&principal).copied().unwrap_or(0);
        let over = if principal == Principal::Owner {
            all >= MAX_CALLS
        } else {
            all >= MAX_CALLS || mine >= MAX_CALLS_PER_GUEST
        };
        if over {
            return Err(format!("Too many calls are running at once ({mine} of yours, {all} in all; at most {MAX_CALLS_PER_GUEST} per caller), some of them still waiting for Coda past their deadline: wait for them to finish — their outcomes show in the dashboard, and writes can be checked with coda_get_mutation_status — before starting more"));
        }
        *running.entry(principal).or_default() += 1;
        Ok(RunningCall {
            calls: self.clone(),
            principal,
        })
    }

    /// Calls running right now.
    pub fn count(&self) -> usize {
        self.running.lock().expect("running calls").values().sum()
    }
}

/// Which tool a ChatGPT face runs, for whom, and how the call is named in the history.
pub struct BoundedCall<'a> {
    /// The tool's name.
    pub name: &'a str,
    /// Who is calling (`None`: the owner).
    pub caller: Option<Caller>,
    /// The session the call belongs to.
    pub session: &'a str,
    /// The face, as the history names it.
    pub client: &'static str,
}

/// Runs a tool for a ChatGPT face within the engine's call deadline. The tool is told a soft
/// deadline (write waits end there, a bulk write sends no batch after it) well before the
/// hard one, so slow writes come back with their `requestId`s and "still processing"; the
/// hard deadline only answers for a call stuck in Coda itself, and never cancels it (within
/// the bound of [`RunningCalls`]).
/// Non-list results come back whole, for the caller to [`fit`] into its own envelope.
pub async fn run_bounded(
    engine: &Engine,
    running: &Arc<RunningCalls>,
    call: BoundedCall<'_>,
    args: Value,
    mut opts: ExecOptions,
) -> Bounded {
    let BoundedCall {
        name,
        caller,
        session,
        client,
    } = call;
    let principal = caller
        .as_ref()
        .map(Caller::principal)
        .unwrap_or(Principal::Owner);
    let counted = match running.start(principal) {
        Ok(counted) => counted,
        Err(why) => return Bounded::Done(Err(ToolError::Unsupported(why))),
    };
    let limit = engine.config().call_deadline;
    let started = Instant::now();
    let hard = started + limit;
    let soft = hard - (limit / 4).min(Duration::from_secs(10));
    opts.deadline = Some(opts.deadline.map_or(soft, |d| d.min(soft)));
    opts.keep_oversized = true;
    let (engine, name, session) = (engine.clone(), name.to_owned(), session.to_owned());
    let mut task = tokio::spawn(async move {
        let catalogue = engine.catalogue();
        let Some((tool, schema)) = catalogue.get(&name) else {
            return Err(ToolError::Unsupported(format!("unknown tool '{name}'")));
        };
        let call = ToolCall {
            tool: (tool, schema),
            caller: caller.as_ref(),
            session: &session,
            client,
        };
        let outcome = engine.run_tool(call, args, &opts).await;
        drop(counted);
        outcome
    });
    let inside = |e: tokio::task::JoinError| {
        ToolError::Unsupported(format!("the call failed inside the server: {e}"))
    };
    match tokio::time::timeout_at(hard, &mut task).await {
        Ok(outcome) => Bounded::Done(outcome.unwrap_or_else(|e| Err(inside(e)))),
        Err(_) => {
            // Still counted (its task holds the count) until it really ends.
            let task = tokio::spawn(async move { task.await.unwrap_or_else(|e| Err(inside(e))) });
            Bounded::StillRunning(task, started.elapsed())
        }
    }
}

/// What [`fit`] had to cut.
#[derive(Default)]
struct Cut {
    /// Strings shortened.
    strings: usize,
    /// Arrays shortened: where (JSON pointer), how many kept, how many there were.
    arrays: Vec<(String, usize, usize)>,
}

fn longest_string(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(o) => o.values().map(longest_string).max().unwrap_or(0),
        _ => 0,
    }
}

/// Shortens every string longer than `cap` characters, ending it with a marker.
fn cap_strings(v: &mut Value, cap: usize, cut: &mut Cut) {
    match v {
        Value::String(s) => {
            let count = s.chars().count();
            // Cutting a few characters would cost more in the marker than it saves.
            if count > cap + 40 {
                let head: String = s.chars().take(cap).collect();
                *s = format!("{head}… [cut {} characters]", count - cap);
                cut.strings += 1;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| cap_strings(x, cap, cut)),
        Value::Object(o) => o.values_mut().for_each(|x| cap_strings(x, cap, cut)),
        _ => {}
    }
}

/// The JSON pointer and serialized size of the largest non-empty array in `v`.
fn largest_array(v: &Value, path: &str, best: &mut Option<(String, usize)>) {
    match v {
        Value::Array(a) => {
            if !a.is_empty() {
                let size = serde_json::to_string(v).map(|s| s.len()).unwrap_or(0);
                if best.as_ref().is_none_or(|(_, b)| size > *b) {
                    *best = Some((path.to_owned(), size));
                }
            }
            for (i, x) in a.iter().enumerate() {
                largest_array(x, &format!("{path}/{i}"), best);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                let key = k.replace('~', "~0").replace('/', "~1");
                largest_array(x, &format!("{path}/{key}"), best);
            }
        }
        _ => {}
    }
}

/// Adds the note saying what was cut and how to get the rest (a list whose items were left
/// out loses its `nextPageToken`, which would skip them).
fn annotate(mut v: Value, cut: &Cut) -> Value {
    if cut.strings == 0 && cut.arrays.is_empty() {
        return v;
    }
    let mut parts = Vec::new();
    if cut.strings > 0 {
        parts.push(format!(
            "{} long text value(s) were shortened (each ends with '… [cut N characters]')",
            cut.strings
        ));
    }
    for (path, kept, total) in &cut.arrays {
        let at = if path.is_empty() { "the result" } else { path };
        parts.push(format!(
            "only the first {kept} of {total} entries of {at} are included"
        ));
    }
    let note = format!(
        "This result was cut to stay under 100,000 characters: {}. Ask for less to see the rest: a smaller limit{}, fewer columns, or one item at a time.",
        parts.join("; "),
        match cut.arrays.iter().find(|(p, _, _)| p == "/items") {
            Some((_, kept, _)) => format!(" (at most {})", (*kept).max(1)),
            None => String::new(),
        }
    );
    if !v.is_object() {
        v = json!({ "result": v });
    }
    let o = v.as_object_mut().expect("an object");
    if cut.arrays.iter().any(|(p, _, _)| p == "/items") {
        o.remove("nextPageToken");
    }
    o.insert("truncated".into(), Value::String(note));
    v
}

/// Cuts `value` cleanly until `size(value) <= max` (`size` measures the whole answer it will
/// travel in): first the longest strings, as little as needed, then — only if that is not
/// enough — trailing entries of the largest arrays. The result stays valid JSON and says what
/// was cut and how to get the rest in a `truncated` note.
pub fn fit(value: Value, max: usize, size: impl Fn(&Value) -> usize) -> Value {
    if size(&value) <= max {
        return value;
    }
    let candidate = |cap: usize| {
        let mut v = value.clone();
        let mut cut = Cut::default();
        cap_strings(&mut v, cap, &mut cut);
        annotate(v, &cut)
    };
    let longest = longest_string(&value);
    if longest > MIN_STRING && size(&candidate(MIN_STRING)) <= max {
        // The largest cap that fits: `lo` fits, `hi` does not.
        let (mut lo, mut hi) = (MIN_STRING, longest);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if size(&candidate(mid)) <= max {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return candidate(lo);
    }
    let mut v = value.clone();
    let mut cut = Cut::default();
    cap_strings(&mut v, MIN_STRING, &mut cut);
    for _ in 0..32 {
        let annotated = annotate(v.clone(), &cut);
        if size(&annotated) <= max {
            return annotated;
        }
        let mut best = None;
        largest_array(&v, "", &mut best);
        let Some((path, _)) = best else { break };
        let total = v
            .pointer(&path)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let with = |k: usize| {
            let mut w = v.clone();
            if let Some(a) = w.pointer_mut(&path).and_then(Value::as_array_mut) {
                a.truncate(k);
            }
            let mut c = Cut {
                strings: cut.strings,
                arrays: cut.arrays.clone(),
            };
            c.arrays.push((path.clone(), k, total));
            (w, c)
        };
        // The most entries that fit (0 when none does: then the next array is cut too).
        let (mut lo, mut hi) = (0usize, total);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let (w, c) = with(mid);
            if size(&annotate(w, &c)) <= max {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let (w, c) = with(lo);
        v = w;
        cut = c;
    }
    // Nothing left to cut (thousands of small fields): say so rather than send it.
    let note = json!({"truncated": "This result is too large to return within 100,000 characters. Ask for less: a smaller limit, fewer columns, or one item at a time."});
    if size(&note) <= max {
        note
    } else {
        json!({})
    }
}

/// The most characters an answer to ChatGPT may have: the engine's output budget, never
/// more than ChatGPT reads.
pub fn response_limit(engine: &Engine) -> usize {
    engine.config().output_budget.min(MAX_RESPONSE_CHARS)
}

/// The length of `v` as compact JSON.
pub fn json_len(v: &Value) -> usize {
    serde_json::to_string(v)
        .map(|s| s.len())
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_shortens_long_strings_as_little_as_needed() {
        let v = json!({"id": "r1", "text": "a".repeat(50_000), "small": "keep me"});
        let out = fit(v, 20_000, json_len);
        assert!(json_len(&out) <= 20_000);
        assert!(json_len(&out) > 19_000, "cut no more than needed");
        assert_eq!(out["id"], "r1");
        assert_eq!(out["small"], "keep me");
        let text = out["text"].as_str().unwrap();
        assert!(
            text.starts_with("aaaa") && text.contains("… [cut "),
            "{}",
            &text[text.len() - 40..]
        );
        assert!(out["truncated"]
            .as_str()
            .unwrap()
            .contains("1 long text value"));
    }

    #[test]
    fn fit_leaves_out_trailing_items_only_when_strings_are_short() {
        let items: Vec<Value> = (0..5_000).map(|i| json!({"n": i, "name": "x"})).collect();
        let v = json!({"items": items, "count": 5_000, "nextPageToken": "abc"});
        let out = fit(v, 30_000, json_len);
        assert!(json_len(&out) <= 30_000);
        let kept = out["items"].as_array().unwrap();
        assert!(!kept.is_empty() && kept.len() < 5_000);
        assert_eq!(kept[0]["n"], 0, "the first items are kept");
        assert!(
            out.get("nextPageToken").is_none(),
            "a token would skip the left-out items"
        );
        let note = out["truncated"].as_str().unwrap();
        assert!(
            note.contains(&format!("first {} of 5000", kept.len())),
            "{note}"
        );
    }

    #[test]
    fn fit_measures_what_the_caller_sends() {
        // Twice the value, as the direct flow sends it (text and structuredContent).
        let v = json!({"text": "\"quoted\" ".repeat(10_000)});
        let twice = |v: &Value| json_len(v) + json_len(&Value::String(v.to_string()));
        let out = fit(v.clone(), 50_000, twice);
        assert!(twice(&out) <= 50_000);
        assert_eq!(
            fit(v.clone(), usize::MAX, twice),
            v,
            "what fits is untouched"
        );
    }
}
