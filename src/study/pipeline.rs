//! Where a world folder stands in the study's pipeline: which stages have their inputs and
//! outputs on disk (the world's data, the English base model, the extended vocabulary, further
//! pretraining, instruction tuning), and the runs it holds, most recent first. Read from the
//! files alone, so it is the same whichever face wrote them.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::train::{RunDir, StepMetrics};

/// The kinds of stage, in the study's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageKind {
    World,
    BaseModel,
    Vocabulary,
    Pretrain,
    InstructionTuning,
}

/// One stage of the pipeline and what exists for it.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub kind: StageKind,
    /// "further pretraining (zh)".
    pub title: String,
    /// Its output is on disk.
    pub done: bool,
    /// What exists, in a line.
    pub detail: String,
    /// The run manifest that makes it (training stages).
    pub recipe: Option<PathBuf>,
    /// The run directory (training stages).
    pub run: Option<PathBuf>,
    /// The language a transfer stage is for (`zh` for `pretrain-zh`).
    pub language: Option<String>,
}

/// A run directory's state from its `metrics.jsonl` and `final/`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub dir: PathBuf,
    pub steps: u64,
    pub tokens: u64,
    pub last_loss: Option<f64>,
    pub last_eval_loss: Option<f64>,
    /// `final/` holds the exported model.
    pub finished: bool,
    /// When its metrics were last written.
    #[serde(skip)]
    pub modified: Option<SystemTime>,
}

/// The most of a `metrics.jsonl` read for a summary: its last lines, however long the run.
const TAIL_BYTES: u64 = 64 * 1024;

/// The whole records among the last [`TAIL_BYTES`] of a metrics file, in order.
fn last_steps(path: &Path) -> Option<Vec<StepMetrics>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    // A tail that starts mid-file starts mid-line: that piece is not a record.
    let skip = usize::from(start > 0);
    Some(
        text.lines()
            .skip(skip)
            .filter_map(|l| serde_json::from_str::<StepMetrics>(l).ok())
            .collect(),
    )
}

/// Summarises one run directory from the end of its metrics; `None` when it holds none.
pub fn run_summary(dir: &Path) -> Option<RunSummary> {
    let run = RunDir::new(dir);
    let metrics = run.metrics();
    let modified = std::fs::metadata(&metrics)
        .and_then(|m| m.modified())
        .ok()?;
    let steps = last_steps(&metrics)?;
    let last = steps.last();
    Some(RunSummary {
        dir: dir.to_path_buf(),
        steps: last.map_or(0, |m| m.step),
        tokens: last.map_or(0, |m| m.tokens),
        last_loss: last.map(|m| m.loss),
        last_eval_loss: steps.iter().rev().find_map(|m| m.eval_loss),
        finished: run.final_model().join("config.json").is_file(),
        modified: Some(modified),
    })
}

/// The runs under `runs_dir` (one folder each), most recently written first.
pub fn recent_runs(runs_dir: &Path) -> Vec<RunSummary> {
    let Ok(entries) = std::fs::read_dir(runs_dir) else {
        return Vec::new();
    };
    let mut runs: Vec<RunSummary> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| run_summary(&e.path()))
        .collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.modified));
    runs
}

fn run_detail(run: Option<&RunSummary>) -> String {
    match run {
        None => "not started".into(),
        Some(r) => format!(
            "{} steps, {} tokens, loss {:.3}{}",
            r.steps,
            r.tokens,
            r.last_loss.unwrap_or(f64::NAN),
            if r.finished {
                ", model exported"
            } else {
                ", stopped (resumable)"
            }
        ),
    }
}

fn training_stage(
    root: &Path,
    kind: StageKind,
    title: String,
    recipe: PathBuf,
    language: Option<String>,
) -> Stage {
    let name = recipe
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let run = root.join("runs").join(name);
    let summary = run_summary(&run);
    Stage {
        kind,
        title,
        done: summary.as_ref().is_some_and(|s| s.finished),
        detail: run_detail(summary.as_ref()),
        recipe: Some(recipe),
        run: Some(run),
        language,
    }
}

/// The recipes in `root/recipes` whose names start with `prefix`, by language code.
fn recipes(root: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(root.join("recipes")) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let code = name
                .strip_prefix(prefix)?
                .strip_suffix(".toml")?
                .to_string();
            Some((code, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// The stages of the study for the world in `root`, in order.
pub fn stages(root: &Path) -> Vec<Stage> {
    let corpora: Vec<String> = std::fs::read_dir(root.join("corpus"))
        .map(|entries| {
            let mut names: Vec<String> = entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    name.strip_suffix(".txt").map(str::to_string)
                })
                .collect();
            names.sort();
            names
        })
        .unwrap_or_default();
    let generated = root.join("recipes/base.toml").is_file();
    let mut stages = vec![Stage {
        kind: StageKind::World,
        title: "the world: text, tokenizer, benchmark".into(),
        done: generated,
        detail: if generated {
            format!("corpora {}", corpora.join(", "))
        } else {
            "not generated".into()
        },
        recipe: None,
        run: None,
        language: None,
    }];
    stages.push(training_stage(
        root,
        StageKind::BaseModel,
        "the English base model".into(),
        root.join("recipes/base.toml"),
        None,
    ));
    let extended = root.join("tokenizer-extended/tokenizer.json");
    let vocab = std::fs::read(&extended)
        .ok()
        .and_then(|bytes| tokenizers::Tokenizer::from_bytes(bytes).ok())
        .map(|t| t.get_vocab_size(true));
    stages.push(Stage {
        kind: StageKind::Vocabulary,
        title: "an extended vocabulary (optional)".into(),
        done: vocab.is_some(),
        detail: match vocab {
            Some(n) => format!("{n} tokens in {}", extended.display()),
            None => "none yet: the Vocabulary page extends the tokenizer".into(),
        },
        recipe: None,
        run: None,
        language: None,
    });
    for (code, recipe) in recipes(root, "pretrain-") {
        stages.push(training_stage(
            root,
            StageKind::Pretrain,
            format!("further pretraining ({code})"),
            recipe,
            Some(code),
        ));
    }
    for (code, recipe) in recipes(root, "sft-") {
        stages.push(training_stage(
            root,
            StageKind::InstructionTuning,
            format!("instruction tuning ({code})"),
            recipe,
            Some(code),
        ));
    }
    stages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_folder_has_nothing_and_a_generated_world_has_its_recipes() {
        let dir = tempfile::tempdir().unwrap();
        let s = stages(dir.path());
        assert!(!s[0].done && !s[1].done);
        let mut spec = crate::world::WorldSpec::new(3).unwrap();
        spec.people = 10;
        super::super::make_world(spec, dir.path(), &mut |_| {}).unwrap();
        let s = stages(dir.path());
        assert!(s[0].done, "{s:?}");
        assert!(s[0].detail.contains("en") && s[0].detail.contains("zh"));
        let kinds: Vec<StageKind> = s.iter().map(|s| s.kind).collect();
        assert!(kinds.contains(&StageKind::Pretrain));
        assert!(kinds.contains(&StageKind::InstructionTuning));
        assert!(s.iter().skip(1).all(|s| !s.done));
        // A run with metrics shows up as recent, with its last step.
        let run = dir.path().join("runs/base");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(
            run.join("metrics.jsonl"),
            "{\"step\":1,\"tokens\":64,\"loss\":5.0,\"lr\":0.1,\"grad_norm\":1.0,\"tokens_per_s\":9.0,\"eta_s\":1.0}\n\
             {\"step\":2,\"tokens\":128,\"loss\":4.5,\"lr\":0.1,\"grad_norm\":1.0,\"tokens_per_s\":9.0,\"eta_s\":0.0,\"eval_loss\":4.7}\n",
        )
        .unwrap();
        let recent = recent_runs(&dir.path().join("runs"));
        assert_eq!(recent.len(), 1);
        assert_eq!((recent[0].steps, recent[0].tokens), (2, 128));
        assert_eq!(recent[0].last_eval_loss, Some(4.7));
        assert!(!recent[0].finished);
        assert!(stages(dir.path())[1].detail.starts_with("2 steps"));
        // A long run: only the end of its metrics is read, and it is read right.
        let mut long = String::new();
        for step in 1..=3000u64 {
            let eval = if step % 100 == 0 {
                format!(",\"eval_loss\":{}", step as f64 / 1000.0)
            } else {
                String::new()
            };
            long.push_str(&format!(
                "{{\"step\":{step},\"tokens\":{},\"loss\":2.5,\"lr\":0.1,\"grad_norm\":1.0,\"tokens_per_s\":9.0,\"eta_s\":0.0{eval}}}\n",
                step * 64
            ));
        }
        assert!(long.len() as u64 > 2 * TAIL_BYTES);
        std::fs::write(run.join("metrics.jsonl"), long).unwrap();
        let summary = run_summary(&run).unwrap();
        assert_eq!((summary.steps, summary.tokens), (3000, 192_000));
        assert_eq!(summary.last_eval_loss, Some(3.0));
    }
}
