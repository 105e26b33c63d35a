//! Draws job events in the terminal: a progress bar per stage, streamed tokens, messages.

use std::io::Write;

use indicatif::{ProgressBar, ProgressStyle};

use beyond::jobs::{Event, Job};

/// Ctrl-C asks `job` to stop at its next check (a training run then saves a checkpoint).
pub fn cancel_on_ctrl_c<T: Send + 'static>(job: &Job<T>) {
    let token = job.cancel_token();
    let _ = ctrlc::set_handler(move || {
        eprintln!("\nstopping at the next step (Ctrl-C again to wait)...");
        token.cancel();
    });
}

/// Waits for `job`, drawing its events unless `quiet`, and returns its result.
pub fn follow<T: Send + 'static>(job: Job<T>, quiet: bool) -> beyond::Result<T> {
    let mut bar: Option<(String, ProgressBar)> = None;
    let mut metrics: Vec<(String, f64)> = Vec::new();
    for event in job.events.iter() {
        if quiet {
            continue;
        }
        match event {
            Event::Progress {
                stage,
                done,
                total,
                unit,
            } => {
                if bar.as_ref().is_none_or(|(s, _)| *s != stage) {
                    if let Some((_, b)) = bar.take() {
                        b.finish_and_clear();
                    }
                    let b = match total {
                        Some(t) => ProgressBar::new(t),
                        None => ProgressBar::new_spinner(),
                    };
                    let template =
                        format!("{stage} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{eta}}) {{msg}}");
                    if let Ok(style) = ProgressStyle::with_template(&template) {
                        b.set_style(style.progress_chars("=> "));
                    }
                    bar = Some((stage, b));
                }
                if let Some((_, b)) = &bar {
                    b.set_position(done);
                }
            }
            Event::Token { text, .. } => {
                print!("{text}");
                let _ = std::io::stdout().flush();
            }
            Event::Message { text } => match &bar {
                // A bar draws only on a terminal; elsewhere (a log, a pipe) the line goes as is.
                Some((_, b)) if !b.is_hidden() => b.println(text),
                _ => eprintln!("{text}"),
            },
            Event::Metric { name, value, .. } => {
                match metrics.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = value,
                    None => metrics.push((name, value)),
                }
                if let Some((_, b)) = &bar {
                    b.set_message(metrics_line(&metrics));
                }
            }
            Event::Started { .. } => {}
            Event::Finished { .. } => {
                if let Some((_, b)) = bar.take() {
                    b.finish_and_clear();
                }
            }
        }
    }
    job.wait()
}

/// `loss 3.2100  lr 3.0e-4  tokens/s 1234` from the latest metrics.
fn metrics_line(metrics: &[(String, f64)]) -> String {
    metrics
        .iter()
        .filter(|(n, _)| n != "eta_s")
        .map(|(n, v)| match n.as_str() {
            "lr" => format!("lr {v:.1e}"),
            "tokens_per_s" => format!("tokens/s {v:.0}"),
            "tokens" => format!("tokens {v:.0}"),
            _ => format!("{} {v:.4}", n.replace('_', " ")),
        })
        .collect::<Vec<_>>()
        .join("  ")
}
