//! `metrics.jsonl`: one JSON object per optimiser step, appended a whole line at a time, so a
//! killed run leaves whole lines; a resumed run drops the lines after its checkpoint and logs
//! those steps again.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepMetrics {
    pub step: u64,
    pub tokens: u64,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    pub tokens_per_s: f64,
    pub eta_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_loss: Option<f64>,
}

/// Reads a run's `metrics.jsonl`; a line cut short by a killed run is left out. A run resumed
/// from a checkpoint logs again the steps after it: the later lines replace the earlier ones.
/// A missing file is an empty history.
pub fn read_metrics(path: &Path) -> Result<Vec<StepMetrics>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<StepMetrics>(line) {
            Ok(m) => {
                let keep = out.partition_point(|o: &StepMetrics| o.step < m.step);
                out.truncate(keep);
                out.push(m);
            }
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => {
                return Err(Error::bad_file(path, format!("line {}: {e}", i + 1)));
            }
        }
    }
    Ok(out)
}

/// The steps of a run directory: beyond's `metrics.jsonl`, or the `trainer_state.json` the HF
/// Trainer writes (LLaMA-Factory's `output/`, or its newest `checkpoint-N/` while it runs), so a
/// run trained elsewhere draws on the same plots. A folder with neither has no steps.
pub fn read_run_history(dir: &Path) -> Result<Vec<StepMetrics>> {
    let ours = dir.join(super::dir::METRICS);
    if ours.is_file() {
        return read_metrics(&ours);
    }
    let top = dir.join(TRAINER_STATE);
    if top.is_file() {
        return read_trainer_state(&top);
    }
    let newest = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let step = name.strip_prefix("checkpoint-")?.parse::<u64>().ok()?;
                    Some((step, e.path().join(TRAINER_STATE)))
                })
                .filter(|(_, p)| p.is_file())
                .max_by_key(|(step, _)| *step)
        })
        .ok()
        .flatten();
    match newest {
        Some((_, path)) => read_trainer_state(&path),
        None => Ok(Vec::new()),
    }
}

/// The HF Trainer's state file.
pub const TRAINER_STATE: &str = "trainer_state.json";

/// Steps of an HF Trainer's `trainer_state.json`: its `log_history` entries with a `loss`, the
/// `eval_loss` logged at the same step joined in. Tokens come from `num_input_tokens_seen` when
/// the Trainer counted them (spread evenly over the steps); speed and time left are not kept
/// there and read as 0.
pub fn read_trainer_state(path: &Path) -> Result<Vec<StepMetrics>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let state: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::bad_file(path, format!("not valid JSON: {e}")))?;
    let history = state["log_history"]
        .as_array()
        .ok_or_else(|| Error::bad_file(path, "has no `log_history` list"))?;
    let number = |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_f64());
    let seen = number(&state, "num_input_tokens_seen").unwrap_or(0.0);
    let steps = number(&state, "global_step").unwrap_or(0.0).max(1.0);
    let mut out: Vec<StepMetrics> = history
        .iter()
        .filter_map(|h| {
            let step = h.get("step")?.as_u64()?;
            Some(StepMetrics {
                step,
                tokens: (seen / steps * step as f64) as u64,
                loss: number(h, "loss")?,
                lr: number(h, "learning_rate").unwrap_or(0.0),
                grad_norm: number(h, "grad_norm").unwrap_or(0.0),
                tokens_per_s: 0.0,
                eta_s: 0.0,
                eval_loss: None,
            })
        })
        .collect();
    for h in history {
        if let (Some(step), Some(eval)) = (
            h.get("step").and_then(|s| s.as_u64()),
            number(h, "eval_loss"),
        ) && let Some(m) = out.iter_mut().find(|m| m.step == step)
        {
            m.eval_loss = Some(eval);
        }
    }
    out.sort_by_key(|m| m.step);
    Ok(out)
}

/// A run's metrics file, open for appending.
pub(super) struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsLog {
    /// Opens `path` for a run at `step`: lines past it are dropped first.
    pub(super) fn open(path: &Path, step: u64) -> Result<Self> {
        truncate_metrics(path, step)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one step as one write, so a killed run leaves whole lines behind.
    pub(super) fn append(&mut self, line: &StepMetrics) -> Result<()> {
        let mut text = serde_json::to_string(line).map_err(|e| Error::Serialize(e.to_string()))?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Drops metric lines past `step` (written after the checkpoint a run resumes from), and a
/// last line cut short by a kill.
fn truncate_metrics(path: &Path, step: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| serde_json::from_str::<StepMetrics>(line).is_ok_and(|m| m.step <= step))
        .collect();
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    if out != text {
        crate::fsx::write_atomic(path, out.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_run_replaces_the_steps_it_logs_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let line = |step: u64, loss: f64| {
            format!(
                "{{\"step\":{step},\"tokens\":0,\"loss\":{loss},\"lr\":0.0,\"grad_norm\":0.0,\"tokens_per_s\":0.0,\"eta_s\":0.0}}\n"
            )
        };
        let mut text = String::new();
        for s in 1..=5 {
            text.push_str(&line(s, 9.0));
        }
        for s in 4..=6 {
            text.push_str(&line(s, 1.0));
        }
        text.push_str("{\"step\":7,\"tok");
        std::fs::write(&path, &text).unwrap();
        let m = read_metrics(&path).unwrap();
        let steps: Vec<u64> = m.iter().map(|m| m.step).collect();
        assert_eq!(steps, [1, 2, 3, 4, 5, 6]);
        assert_eq!(m[3].loss, 1.0);
        assert!(
            read_metrics(&dir.path().join("none.jsonl"))
                .unwrap()
                .is_empty()
        );
    }
}
