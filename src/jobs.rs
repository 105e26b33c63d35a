//! Long work as jobs: a job runs apart from its caller, reports typed events through a channel,
//! and can be cancelled. The CLI draws the events as progress bars, the GUI as panels; neither
//! holds the work itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::{Error, Result};

/// What a job reports while it runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The job began.
    Started { job: String },
    /// `done` of `total` units (`total` unknown when `None`).
    Progress {
        stage: String,
        done: u64,
        total: Option<u64>,
        unit: String,
    },
    /// A generated token and the text it completes.
    Token { id: u32, text: String },
    /// A measured value at a step (loss, tokens per second, ...).
    Metric { name: String, step: u64, value: f64 },
    /// A line for people.
    Message { text: String },
    /// The job ended; `error` says why when it failed.
    Finished { ok: bool, error: Option<String> },
}

/// Asks a job to stop at its next check.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Called after each event, so a GUI can repaint.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// What the work of a job gets: a way to report and a way to learn it should stop.
#[derive(Clone)]
pub struct JobContext {
    tx: Sender<Event>,
    cancel: CancelToken,
    waker: Option<Waker>,
}

impl JobContext {
    /// A context whose events go to `tx` (for running work in the caller's thread).
    pub fn new(tx: Sender<Event>, cancel: CancelToken, waker: Option<Waker>) -> Self {
        Self { tx, cancel, waker }
    }

    /// Reports an event; a caller that stopped listening is not an error.
    pub fn emit(&self, event: Event) {
        let _ = self.tx.send(event);
        if let Some(w) = &self.waker {
            w();
        }
    }

    /// Reports progress of a stage.
    pub fn progress(&self, stage: &str, done: u64, total: Option<u64>, unit: &str) {
        self.emit(Event::Progress {
            stage: stage.into(),
            done,
            total,
            unit: unit.into(),
        });
    }

    /// Reports a line for people.
    pub fn message(&self, text: impl Into<String>) {
        self.emit(Event::Message { text: text.into() });
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// `Err(Cancelled)` once cancellation was asked for.
    pub fn check_cancelled(&self) -> Result<()> {
        match self.is_cancelled() {
            true => Err(Error::Cancelled),
            false => Ok(()),
        }
    }
}

/// A running (or finished) job that produces a `T`.
pub struct Job<T> {
    /// Events in the order the job emitted them, ending with `Finished`.
    pub events: Receiver<Event>,
    cancel: CancelToken,
    result: Slot<T>,
    #[cfg(not(target_family = "wasm"))]
    handle: Option<std::thread::JoinHandle<()>>,
}

/// Where a job's result waits for its caller.
type Slot<T> = Arc<Mutex<Option<Result<T>>>>;

/// A job's panic as an error carrying its message.
fn panic_error(panic: Box<dyn std::any::Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown failure".into());
    Error::Internal(what)
}

/// Records how a job ended, then says so.
fn finish<T>(ctx: &JobContext, slot: &Slot<T>, outcome: Result<T>) {
    let finished = Event::Finished {
        ok: outcome.is_ok(),
        error: outcome.as_ref().err().map(|e| e.to_string()),
    };
    if let Ok(mut s) = slot.lock() {
        *s = Some(outcome);
    }
    ctx.emit(finished);
}

impl<T: Send + 'static> Job<T> {
    /// A job's channel, cancel token and result slot, and the context its work reports through.
    fn setup(waker: Option<Waker>) -> (Self, JobContext, Slot<T>) {
        let (tx, events) = channel();
        let cancel = CancelToken::default();
        let ctx = JobContext::new(tx, cancel.clone(), waker);
        let result = Arc::new(Mutex::new(None));
        let job = Self {
            events,
            cancel,
            result: result.clone(),
            #[cfg(not(target_family = "wasm"))]
            handle: None,
        };
        (job, ctx, result)
    }

    /// Starts `work` on its own thread (inline on the web, which has none).
    pub fn spawn(
        name: &str,
        waker: Option<Waker>,
        work: impl FnOnce(&JobContext) -> Result<T> + Send + 'static,
    ) -> Self {
        #[cfg_attr(target_family = "wasm", allow(unused_mut))]
        let (mut job, ctx, slot) = Self::setup(waker);
        let name = name.to_string();
        let run = move || {
            ctx.emit(Event::Started { job: name });
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&ctx)))
                .unwrap_or_else(|panic| Err(panic_error(panic)));
            finish(&ctx, &slot, outcome);
        };
        #[cfg(not(target_family = "wasm"))]
        {
            job.handle = Some(std::thread::spawn(run));
        }
        #[cfg(target_family = "wasm")]
        run();
        job
    }

    /// Starts the future `work` makes: on its own thread, driven to the end there, on the
    /// desktop; on the browser's event loop on the web, where the work must yield (see
    /// [`yield_now`]) for the page to keep drawing.
    pub fn spawn_async<F, Fut>(name: &str, waker: Option<Waker>, work: F) -> Self
    where
        F: FnOnce(JobContext) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T>> + 'static,
    {
        #[cfg_attr(target_family = "wasm", allow(unused_mut))]
        let (mut job, ctx, slot) = Self::setup(waker);
        let name = name.to_string();
        // The future is made where it runs: it need not move between threads.
        let run = move || async move {
            use futures_lite::FutureExt;
            ctx.emit(Event::Started { job: name });
            // A panic ends the job with an error, as in `spawn`, rather than leaving its
            // caller waiting for a `Finished` that never comes.
            let work = std::panic::AssertUnwindSafe(async { work(ctx.clone()).await });
            let outcome = work
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(panic_error(panic)));
            finish(&ctx, &slot, outcome);
        };
        #[cfg(not(target_family = "wasm"))]
        {
            job.handle = Some(std::thread::spawn(move || {
                futures_lite::future::block_on(run())
            }));
        }
        #[cfg(target_family = "wasm")]
        wasm_bindgen_futures::spawn_local(run());
        job
    }

    /// Asks the job to stop.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A token that cancels this job, for handing to another thread (a Ctrl-C handler).
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// The result, once the job has finished; `None` while it runs or after it was taken.
    pub fn try_result(&self) -> Option<Result<T>> {
        self.result.lock().ok()?.take()
    }

    /// Waits for the job to finish and returns its result.
    #[cfg_attr(target_family = "wasm", allow(unused_mut))]
    pub fn wait(mut self) -> Result<T> {
        #[cfg(not(target_family = "wasm"))]
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.try_result()
            .unwrap_or_else(|| Err(Error::InvalidInput("the job ended without a result".into())))
    }
}

/// Lets the host run before the job goes on: on the web, a turn of the browser's event loop
/// (the page draws and takes input); on the desktop, where a job has its own thread, nothing.
pub async fn yield_now() {
    #[cfg(target_family = "wasm")]
    {
        let turn = js_sys::Promise::new(&mut |resolve, _| {
            let timer = web_sys::window().and_then(|w| {
                w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0)
                    .ok()
            });
            if timer.is_none() {
                let _ = resolve.call0(&wasm_bindgen::JsValue::UNDEFINED);
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(turn).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_arrive_in_order_and_end_with_finished() {
        let job = Job::spawn("count", None, |ctx| {
            for i in 0..3 {
                ctx.progress("counting", i + 1, Some(3), "items");
            }
            Ok(42)
        });
        let events: Vec<Event> = job.events.iter().collect();
        assert_eq!(
            events.first(),
            Some(&Event::Started {
                job: "count".into()
            })
        );
        assert_eq!(
            events.last(),
            Some(&Event::Finished {
                ok: true,
                error: None
            })
        );
        assert_eq!(events.len(), 5);
        assert_eq!(job.wait().unwrap(), 42);
    }

    #[test]
    fn cancel_stops_the_work() {
        let job: Job<u32> = Job::spawn("spin", None, |ctx| {
            loop {
                ctx.check_cancelled()?;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        job.cancel();
        assert!(matches!(job.wait(), Err(Error::Cancelled)));
    }

    #[test]
    fn an_async_job_reports_and_returns() {
        let job = Job::spawn_async("count", None, |ctx| async move {
            for i in 0..3 {
                yield_now().await;
                ctx.progress("counting", i + 1, Some(3), "items");
            }
            Ok(7)
        });
        let events: Vec<Event> = job.events.iter().collect();
        assert_eq!(events.len(), 5);
        assert_eq!(job.wait().unwrap(), 7);
    }

    #[test]
    fn a_panic_becomes_an_error() {
        let job: Job<()> = Job::spawn("boom", None, |_| panic!("kaput"));
        let err = job.wait().unwrap_err().to_string();
        assert!(err.contains("kaput"), "{err}");
    }

    #[test]
    fn a_panic_in_an_async_job_becomes_an_error_and_a_finished_event() {
        let job: Job<()> = Job::spawn_async("boom", None, |_| async {
            yield_now().await;
            panic!("kaput after a yield");
        });
        let last = job.events.iter().last();
        assert!(
            matches!(&last, Some(Event::Finished { ok: false, error: Some(e) }) if e.contains("kaput")),
            "{last:?}"
        );
        let err = job.wait().unwrap_err().to_string();
        assert!(err.contains("kaput after a yield"), "{err}");
    }
}
