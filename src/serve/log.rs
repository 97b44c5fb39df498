//! One JSON line per decision on stdout (uid, namespace, kind, name, operation, every image with
//! its digest or error, the decision, the duration), and JSON lines for the server's own events.
//! Nothing from `userInfo`, headers or credentials is ever read into a line, so none can leak.
//!
//! Lines are written by a thread of their own, fed by a bounded queue: a stdout whose reader
//! stalls (a container runtime's log pipe) must not stall the async workers answering reviews,
//! since the API server would then time out every review. When the queue is full a line is
//! dropped, never silently: it is counted ([`dropped`], `trustpin_log_lines_dropped_total` in
//! /metrics) and, once lines flow again, a `log lines dropped` event says how many. [`flush`]
//! writes out everything queued before the process exits.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

/// Lines queued at most (a decision line is a few hundred bytes: some MiB at most).
const QUEUE: usize = 16 * 1024;

/// How long [`flush`] waits for the writer (stdout may be stalled for good).
const FLUSH_WAIT: Duration = Duration::from_secs(5);

enum Message {
    Line(String),
    Flush(SyncSender<()>),
}

/// A queue of lines and the thread writing them to `W`.
struct Log {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

impl Log {
    fn new<W: Write + Send + 'static>(out: W, queue: usize) -> Log {
        let (tx, rx) = sync_channel(queue);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_lines(rx, out, &counted))
            .expect("start the log writer thread");
        Log { tx, dropped }
    }

    fn line(&self, line: String) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Message::Line(line)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) {
        let (done, wait) = sync_channel(1);
        if self.tx.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(FLUSH_WAIT);
        }
    }
}

/// The writer: lines as they come, flushed whenever the queue is empty, with a line saying how
/// many were dropped (if more were) before each flush.
fn write_lines(rx: Receiver<Message>, out: impl Write, dropped: &AtomicU64) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let mut reported = 0;
    let mut flush = |out: &mut std::io::BufWriter<_>| {
        let n = dropped.load(Ordering::Relaxed);
        if n > reported {
            let v = json!({"event": "log lines dropped", "dropped_total": n, "time": now()});
            let _ = writeln!(out, "{v}");
            reported = n;
        }
        let _ = out.flush();
    };
    let mut next = rx.recv().ok();
    while let Some(m) = next {
        match m {
            Message::Line(l) => {
                let _ = writeln!(out, "{l}");
            }
            Message::Flush(done) => {
                flush(&mut out);
                let _ = done.send(());
            }
        }
        next = match rx.try_recv() {
            Ok(m) => Some(m),
            Err(_) => {
                flush(&mut out);
                rx.recv().ok()
            }
        };
    }
}

static STDOUT: OnceLock<Log> = OnceLock::new();

fn stdout() -> &'static Log {
    STDOUT.get_or_init(|| Log::new(std::io::stdout(), QUEUE))
}

/// Queue one line (serde_json escapes every control character, so a line is one line).
pub fn line(mut v: Value) {
    v["time"] = now().into();
    stdout().line(v.to_string());
}

/// Lines dropped so far because the queue was full.
pub fn dropped() -> u64 {
    stdout().dropped.load(Ordering::Relaxed)
}

/// Write out every line queued so far (waiting at most [`FLUSH_WAIT`]).
pub fn flush() {
    stdout().flush();
}

/// A server event (listening, certificate reloaded, ...) with an optional error.
pub fn event(what: &str, error: Option<&str>) {
    let mut v = json!({"event": what});
    if let Some(e) = error {
        v["error"] = e.into();
    }
    line(v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;

    /// A writer that blocks until released, as a stdout nobody reads.
    #[derive(Clone, Default)]
    struct Stalled {
        writing: Arc<AtomicBool>,
        released: Arc<AtomicBool>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Stalled {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.writing.store(true, Ordering::SeqCst);
            while !self.released.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.written.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_stdout_drops_lines_counted_and_reported_never_blocking_the_caller() {
        let out = Stalled::default();
        let log = Log::new(out.clone(), 4);
        // The writer takes line 0 and flushes it (the queue is empty), stalling there.
        log.line("0".into());
        while !out.writing.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Four more fit in the queue; five are dropped, at once.
        let started = std::time::Instant::now();
        for i in 1..10 {
            log.line(i.to_string());
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(log.dropped.load(Ordering::Relaxed), 5);
        out.released.store(true, Ordering::SeqCst);
        log.flush();
        let text = String::from_utf8(out.written.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(&lines[..5], ["0", "1", "2", "3", "4"]);
        let event: Value = serde_json::from_str(lines[5]).unwrap();
        assert_eq!(event["event"], "log lines dropped");
        assert_eq!(event["dropped_total"], 5);
    }
}
