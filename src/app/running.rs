//! A job started from a panel, and what its events said so far.

use eframe::egui;

use beyond::jobs::{Event, Job, Waker};

/// A step's job and what its events said so far.
pub struct Running<T> {
    pub job: Job<T>,
    pub status: String,
    /// Every metric reported so far: (name, step, value).
    pub metrics: Vec<(String, u64, f64)>,
    /// Text of every generated token so far.
    pub tokens: Vec<String>,
}

impl<T: Send + 'static> Running<T> {
    /// Starts `work` as a job that repaints the window on each of its events.
    pub fn start(
        name: &str,
        ctx: &egui::Context,
        work: impl FnOnce(&beyond::jobs::JobContext) -> beyond::Result<T> + Send + 'static,
    ) -> Self {
        Self {
            job: Job::spawn(name, Some(waker(ctx)), work),
            status: "starting".into(),
            metrics: Vec::new(),
            tokens: Vec::new(),
        }
    }
}

pub fn waker(ctx: &egui::Context) -> Waker {
    let ctx = ctx.clone();
    std::sync::Arc::new(move || ctx.request_repaint())
}

/// Drains a job's events into its status line; the result once it has finished.
pub fn poll<T: Send + 'static>(slot: &mut Option<Running<T>>) -> Option<Result<T, String>> {
    let running = slot.as_mut()?;
    while let Ok(event) = running.job.events.try_recv() {
        match event {
            Event::Progress {
                stage,
                done,
                total,
                unit,
            } => {
                running.status = match total {
                    Some(t) => format!("{stage}: {done}/{t} {unit}"),
                    None => format!("{stage}: {done} {unit}"),
                }
            }
            Event::Metric { name, step, value } => {
                if name == "loss" {
                    running.status = format!("step {step}: loss {value:.4}");
                }
                running.metrics.push((name, step, value));
            }
            Event::Message { text } => running.status = text,
            Event::Token { text, .. } => {
                running.status = format!("{} tokens", running.tokens.len() + 1);
                running.tokens.push(text);
            }
            _ => {}
        }
    }
    let result = running.job.try_result()?;
    *slot = None;
    Some(result.map_err(|e| e.to_string()))
}
