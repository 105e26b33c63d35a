//! A job started from a panel, and what its events said so far.

// Some of these serve only the desktop's pages.
#![cfg_attr(not(feature = "native"), allow(dead_code))]

use eframe::egui;

use crate::jobs::{Event, Job, Waker};

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
        work: impl FnOnce(&crate::jobs::JobContext) -> crate::Result<T> + Send + 'static,
    ) -> Self {
        Self::watching(Job::spawn(name, Some(waker(ctx)), work))
    }

    /// Starts the future `work` makes as a job (see [`Job::spawn_async`]).
    pub fn start_async<F, Fut>(name: &str, ctx: &egui::Context, work: F) -> Self
    where
        F: FnOnce(crate::jobs::JobContext) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = crate::Result<T>> + 'static,
    {
        Self::watching(Job::spawn_async(name, Some(waker(ctx)), work))
    }

    fn watching(job: Job<T>) -> Self {
        Self {
            job,
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

/// A job started from a page and, once it has finished, its result: what every button that
/// starts work keeps, with the spinner, status and Stop button drawn while it runs.
pub struct Task<T> {
    running: Option<Running<T>>,
    result: Option<Result<T, String>>,
}

impl<T> Default for Task<T> {
    fn default() -> Self {
        Self {
            running: None,
            result: None,
        }
    }
}

impl<T: Send + 'static> Task<T> {
    /// Starts `work`, forgetting the last result.
    pub fn start(
        &mut self,
        name: &str,
        ctx: &egui::Context,
        work: impl FnOnce(&crate::jobs::JobContext) -> crate::Result<T> + Send + 'static,
    ) {
        self.result = None;
        self.running = Some(Running::start(name, ctx, work));
    }

    /// Starts the future `work` makes, forgetting the last result.
    pub fn start_async<F, Fut>(&mut self, name: &str, ctx: &egui::Context, work: F)
    where
        F: FnOnce(crate::jobs::JobContext) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = crate::Result<T>> + 'static,
    {
        self.result = None;
        self.running = Some(Running::start_async(name, ctx, work));
    }

    /// Drains the job's events; true in the frame its result arrives.
    pub fn poll(&mut self) -> bool {
        match poll(&mut self.running) {
            Some(result) => {
                self.result = Some(result);
                true
            }
            None => false,
        }
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The job while it runs (its status, metrics and tokens so far).
    pub fn running(&self) -> Option<&Running<T>> {
        self.running.as_ref()
    }

    pub fn result(&self) -> Option<&Result<T, String>> {
        self.result.as_ref()
    }

    pub fn result_mut(&mut self) -> Option<&mut Result<T, String>> {
        self.result.as_mut()
    }

    /// The result if the job succeeded.
    pub fn output(&self) -> Option<&T> {
        self.result.as_ref()?.as_ref().ok()
    }

    /// Puts a result in place, as if a job had returned it.
    pub fn set_result(&mut self, result: Result<T, String>) {
        self.result = Some(result);
    }

    pub fn cancel(&self) {
        if let Some(r) = &self.running {
            r.job.cancel();
        }
    }

    /// While it runs: a spinner, the last status and a Stop button (when `stoppable`).
    pub fn status_ui(&self, ui: &mut egui::Ui, stoppable: bool) {
        if let Some(r) = &self.running {
            ui.spinner();
            ui.label(&r.status);
            if stoppable && ui.button("Stop").clicked() {
                r.job.cancel();
            }
        }
    }

    /// The error, in the error colour, if the job failed.
    pub fn error_ui(&self, ui: &mut egui::Ui) {
        if let Some(Err(e)) = &self.result {
            super::style::error(ui, e);
        }
    }
}
