//! Draws job events in the terminal: a progress bar per stage, streamed tokens, messages.

use std::io::Write;

use indicatif::{ProgressBar, ProgressStyle};

use beyond::jobs::{Event, Job};

/// Waits for `job`, drawing its events unless `quiet`, and returns its result.
pub fn follow<T: Send + 'static>(job: Job<T>, quiet: bool) -> beyond::Result<T> {
    let mut bar: Option<(String, ProgressBar)> = None;
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
                    let template = format!("{stage} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{eta}})");
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
                Some((_, b)) => b.println(text),
                None => eprintln!("{text}"),
            },
            Event::Metric { .. } | Event::Started { .. } => {}
            Event::Finished { .. } => {
                if let Some((_, b)) = bar.take() {
                    b.finish_and_clear();
                }
            }
        }
    }
    job.wait()
}
