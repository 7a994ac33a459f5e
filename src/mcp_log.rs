//! MCP logging: the server's own tracing records (this crate's, `info` and above), offered to
//! MCP sessions that ask with `logging/setLevel` as `notifications/message`. A layer the faces
//! add to their tracing subscriber publishes each record to whoever listens; nothing is kept
//! and nothing is formatted while no session listens.

use std::sync::{Arc, OnceLock};

use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Records a slow session may fall behind by before it misses some (it is told how many).
const BACKLOG: usize = 256;

/// One log record, as a session sees it.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Its level.
    pub level: Level,
    /// The module that logged it (`coda_mcp::tunnel`, …).
    pub target: String,
    /// The message with its fields, as the log file shows them.
    pub message: String,
}

fn channel() -> &'static broadcast::Sender<Arc<LogRecord>> {
    static CHANNEL: OnceLock<broadcast::Sender<Arc<LogRecord>>> = OnceLock::new();
    CHANNEL.get_or_init(|| broadcast::channel(BACKLOG).0)
}

/// Listens to the records logged from now on.
pub fn subscribe() -> broadcast::Receiver<Arc<LogRecord>> {
    channel().subscribe()
}

/// The layer a face adds to its subscriber: this crate's records at `info` and above.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    Publisher.with_filter(
        tracing_subscriber::filter::Targets::new().with_target("coda_mcp", Level::INFO),
    )
}

/// Publishes each record to the sessions listening.
struct Publisher;

impl<S: Subscriber> Layer<S> for Publisher {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let tx = channel();
        if tx.receiver_count() == 0 {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        let _ = tx.send(Arc::new(LogRecord {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message: text.line(),
        }));
    }
}

/// `message key=value …`, as the pretty log shows a record.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn line(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let sep = if self.fields.is_empty() { "" } else { " " };
            let _ = write!(self.fields, "{sep}{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        use std::fmt::Write;
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let sep = if self.fields.is_empty() { "" } else { " " };
            let _ = write!(self.fields, "{sep}{}={value}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn records_of_this_crate_reach_listeners_with_their_fields() {
        let mut rx = subscribe();
        let subscriber = tracing_subscriber::registry().with(layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(tools = 21, "the tools on offer changed");
            tracing::debug!("too fine for MCP clients");
            tracing::info!(target: "hyper", "not ours");
        });
        let record = rx.try_recv().unwrap();
        assert_eq!(record.level, Level::INFO);
        assert_eq!(record.message, "the tools on offer changed tools=21");
        assert!(
            rx.try_recv().is_err(),
            "debug and other crates' records are left out"
        );
    }
}
