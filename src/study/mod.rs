//! The study itself: the paper's questions as experiments that run themselves and write a
//! report. A study file names its inputs, a grid of settings and the findings to test; running
//! it chains the stages every cell needs (world, base model, vocabulary, further pretraining,
//! instruction tuning, measurement) through a content-addressed store, so a stage shared by
//! cells or studies runs once and a killed study resumes where it stopped; the results are
//! tables, figures and verdicts computed from the data.

pub mod figures;
pub mod manifest;
pub mod measure;
pub mod pipeline;
pub mod recipes;
pub mod report;
pub mod results;
pub mod stages;
pub mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

pub use manifest::{Elsewhere, Expect, Finding, Setting, Study, VocabChoice};
pub use report::{RunInfo, Summary};
pub use results::{FindingResult, Run, Verdict};

use self::measure::{MeasureStage, Measured, Sources};
use self::stages::{Planned, TrainPlan, Work};
use self::store::Store;
use crate::error::{Error, Result};
use crate::jobs::JobContext;

/// The studies that ship with beyond: (name, text).
pub const SHIPPED: [(&str, &str); 5] = [
    (
        "rq1-vocabulary",
        include_str!("../../assets/studies/rq1-vocabulary.toml"),
    ),
    (
        "rq2-scale",
        include_str!("../../assets/studies/rq2-scale.toml"),
    ),
    (
        "rq3-english",
        include_str!("../../assets/studies/rq3-english.toml"),
    ),
    (
        "rq4-codeswitch",
        include_str!("../../assets/studies/rq4-codeswitch.toml"),
    ),
    (
        "multilingual",
        include_str!("../../assets/studies/multilingual.toml"),
    ),
];

/// Generates the world `spec` describes, with the training recipes that chain its stages
/// (`recipes/`), and writes it under `dir`.
pub fn make_world(
    spec: crate::world::WorldSpec,
    dir: &Path,
    progress: crate::world::Progress,
) -> Result<crate::world::World> {
    let mut world = crate::world::generate(spec, progress)?;
    for (name, text) in recipes::recipes(&world.spec, &world.summary)? {
        world.files.insert(name, text.into_bytes());
    }
    crate::world::write(&world, dir)?;
    Ok(world)
}

/// Reads a study: a file, or the name of a shipped one.
pub fn open(file_or_name: &str, scale: &str) -> Result<Study> {
    let path = Path::new(file_or_name);
    if path.is_file() {
        return Study::open(path, scale);
    }
    match SHIPPED.iter().find(|(n, _)| *n == file_or_name) {
        Some((name, text)) => Study::parse(
            text,
            Path::new(&format!("{name}.toml")),
            &manifest::absolute(Path::new(".")),
            scale,
        ),
        None => Err(Error::InvalidInput(format!(
            "{file_or_name}: no such file, and no shipped study of that name (shipped: {})",
            SHIPPED.map(|(n, _)| n).join(", ")
        ))),
    }
}

/// Where a study writes: its results under `workspace/NAME/`, its stages under
/// `workspace/store/`, shared with every other study of the workspace.
#[derive(Debug, Clone)]
pub struct Layout {
    pub workspace: PathBuf,
}

impl Layout {
    /// The layout of a workspace folder (made absolute: stages run in folders of their own).
    pub fn new(workspace: &Path) -> Self {
        Self {
            workspace: manifest::absolute(workspace),
        }
    }

    pub fn results(&self, study: &Study) -> PathBuf {
        self.workspace.join(&study.name)
    }

    pub fn store(&self) -> Store {
        Store::new(&self.workspace.join("store"))
    }
}

/// One run of the plan: a setting, a seed, and the stages that make and measure its model.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub setting: Setting,
    pub seed: u64,
    /// Indices into the plan's stages, in order; the last is the measurement.
    pub stages: Vec<usize>,
}

/// Every stage the study needs, each once, in an order that runs each after its inputs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub stages: Vec<Planned>,
    pub runs: Vec<PlannedRun>,
}

impl Plan {
    /// Adds a stage unless the plan has it; returns its index.
    fn add(&mut self, stage: Planned) -> usize {
        match self.stages.iter().position(|s| s.address == stage.address) {
            Some(i) => i,
            None => {
                self.stages.push(stage);
                self.stages.len() - 1
            }
        }
    }
}

/// Plans the stages of every cell and seed.
pub fn plan(study: &Study, layout: &Layout) -> Result<Plan> {
    let store = layout.store();
    let mut plan = Plan {
        stages: Vec::new(),
        runs: Vec::new(),
    };
    // The base model and where its data come from.
    let (base_index, corpora, sources, instruct) = match (&study.world, &study.inputs) {
        (Some(w), _) => {
            let world = stages::world_stage(study, &store)?
                .ok_or_else(|| Error::InvalidInput("no world".into()))?;
            let dir = world.output();
            let i = plan.add(world);
            let base = stages::base_stage(study, &store, &plan.stages[i])?;
            let corpora: BTreeMap<String, PathBuf> = w
                .languages
                .iter()
                .map(|l| (l.clone(), dir.join(format!("corpus/{l}.txt"))))
                .collect();
            let instruct: BTreeMap<String, PathBuf> = w
                .languages
                .iter()
                .map(|l| (l.clone(), dir.join(format!("instruct/{l}.jsonl"))))
                .collect();
            (
                Some(plan.add(base)),
                corpora,
                Sources::World(dir.clone()),
                instruct,
            )
        }
        (None, Some(inputs)) => (
            None,
            inputs.corpus.clone(),
            Sources::Files {
                benchmarks: inputs.benchmarks.clone(),
                heldout: inputs.heldout.clone(),
                prompts: inputs.prompts.clone(),
            },
            inputs.instruct.clone(),
        ),
        (None, None) => return Err(Error::InvalidInput("the study has no inputs".into())),
    };
    let (base_hash, base_model) = match (base_index, &study.inputs) {
        (Some(b), _) => (plan.stages[b].address.hash.clone(), plan.stages[b].output()),
        (None, Some(inputs)) => (stages::fingerprint(&inputs.model), inputs.model.clone()),
        (None, None) => unreachable!("checked above"),
    };
    let base_corpus = corpora.get(&study.base_language).cloned();
    for setting in study.settings() {
        let target = &setting.target;
        let target_corpus = corpora.get(target).cloned();
        for &seed in &study.grid.seeds {
            let mut chain: Vec<usize> = base_index.into_iter().collect();
            let mut from = (base_hash.clone(), base_model.clone());
            if let VocabChoice::Extended(add) = setting.vocab {
                let corpus = target_corpus.clone().ok_or_else(|| {
                    Error::InvalidInput(format!("no {target} corpus to learn tokens from"))
                })?;
                let stage = stages::vocab_stage(study, &store, (&from.0, &from.1), &corpus, add)?;
                let i = plan.add(stage);
                chain.push(i);
                from = (plan.stages[i].address.hash.clone(), plan.stages[i].output());
            }
            if setting.pretrain_tokens > 0 {
                let text = target_corpus.clone().ok_or_else(|| {
                    Error::InvalidInput(format!("no {target} corpus to pretrain on"))
                })?;
                let share = setting.english_share;
                let mut corpora = vec![(target.clone(), text, 1.0 - share)];
                if share > 0.0 {
                    let en = base_corpus.clone().ok_or_else(|| {
                        Error::InvalidInput(format!("no {} corpus to mix in", study.base_language))
                    })?;
                    corpora.push((study.base_language.clone(), en, share));
                }
                let stage = stages::train_stage(
                    study,
                    &store,
                    TrainPlan {
                        stage: "pretrain",
                        from: (&from.0, &from.1),
                        corpora,
                        tokens: setting.pretrain_tokens,
                        examples: 0,
                        seed,
                    },
                )?;
                let i = plan.add(stage);
                chain.push(i);
                from = (plan.stages[i].address.hash.clone(), plan.stages[i].output());
            }
            if setting.instruct_examples > 0 {
                let data = instruct
                    .get(target)
                    .cloned()
                    .ok_or_else(|| Error::InvalidInput(format!("no {target} instruction data")))?;
                let stage = stages::train_stage(
                    study,
                    &store,
                    TrainPlan {
                        stage: "sft",
                        from: (&from.0, &from.1),
                        corpora: vec![(target.clone(), data, 1.0)],
                        tokens: 0,
                        examples: setting.instruct_examples,
                        seed,
                    },
                )?;
                let i = plan.add(stage);
                chain.push(i);
                from = (plan.stages[i].address.hash.clone(), plan.stages[i].output());
            }
            let stage = measure_stage(study, &store, &setting, &sources, from.clone())?;
            chain.push(plan.add(stage));
            plan.runs.push(PlannedRun {
                setting: setting.clone(),
                seed,
                stages: chain,
            });
        }
    }
    // Models trained elsewhere: measured as they are, one stage each.
    for (setting, seed, model) in study.elsewhere_settings() {
        let mut identity = stages::fingerprint(&model);
        if crate::model::adapter::is_adapter_dir(&model) {
            let base = crate::model::adapter::base_dir(&model, None)?;
            identity.push_str(&stages::fingerprint(&base));
        }
        let stage = measure_stage(study, &store, &setting, &sources, (identity, model))?;
        let i = plan.add(stage);
        plan.runs.push(PlannedRun {
            setting,
            seed,
            stages: vec![i],
        });
    }
    Ok(plan)
}

/// The stage that measures the model `(identity, dir)` of `setting`.
fn measure_stage(
    study: &Study,
    store: &Store,
    setting: &Setting,
    sources: &Sources,
    (identity, dir): (String, PathBuf),
) -> Result<Planned> {
    let target = &setting.target;
    let spec = MeasureStage {
        revision: measure::REVISION,
        model: identity,
        target: target.clone(),
        languages: manifest::dedup(vec![study.base_language.clone(), target.clone()]),
        settings: study.measure.clone(),
        sources: sources.clone(),
    };
    Ok(Planned {
        address: store.address("measure", &spec)?,
        label: format!("measuring {}", setting.label(&study.varying_axes())),
        cost: 8_000.0,
        work: Work::Measure { spec, model: dir },
    })
}

/// How far a study has got: what the faces draw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyProgress {
    pub stages_done: usize,
    pub stages: usize,
    pub current: String,
    pub eta_s: Option<f64>,
}

/// What a finished study run returns.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub results: PathBuf,
    pub summary: Summary,
    /// Stages run by this invocation (the rest were found done).
    pub stages_run: usize,
    pub stages: usize,
}

/// Runs every stage of the study not yet done, then writes its report.
pub fn run(
    study: &Study,
    layout: &Layout,
    device: &Device,
    device_name: &str,
    ctx: &JobContext,
) -> Result<Outcome> {
    let started = Instant::now();
    let plan = plan(study, layout)?;
    let results_dir = layout.results(study);
    std::fs::create_dir_all(&results_dir).map_err(|e| Error::io(&results_dir, e))?;
    let study_toml = toml::to_string(study).map_err(|e| Error::Serialize(e.to_string()))?;
    crate::fsx::write_atomic(&results_dir.join("study.toml"), study_toml.as_bytes())?;

    let total = plan.stages.len();
    let todo: Vec<usize> = (0..total)
        .filter(|&i| !plan.stages[i].address.is_done())
        .collect();
    let total_cost: f64 = todo.iter().map(|&i| plan.stages[i].cost).sum();
    ctx.message(format!(
        "{}: {} runs, {} stages ({} done already), results in {}",
        study.name,
        plan.runs.len(),
        total,
        total - todo.len(),
        results_dir.display()
    ));
    let mut cost_done = 0.0;
    for (k, &i) in todo.iter().enumerate() {
        ctx.check_cancelled()?;
        let stage = &plan.stages[i];
        let elapsed = started.elapsed().as_secs_f64();
        let eta = (cost_done > 0.0).then(|| elapsed / cost_done * (total_cost - cost_done));
        let measured = states(&plan)
            .iter()
            .filter(|r| r.stages_done == r.stages)
            .count();
        ctx.message(format!(
            "[stage {}/{}, {measured}/{} runs measured] {}{}",
            total - todo.len() + k + 1,
            total,
            plan.runs.len(),
            stage.label,
            eta.map_or(String::new(), |s| format!(
                " (about {} left)",
                short_time(s)
            ))
        ));
        ctx.progress(
            "study",
            (total - todo.len() + k) as u64,
            Some(total as u64),
            "stages",
        );
        stages::run(stage, device, ctx)?;
        cost_done += stage.cost;
    }
    ctx.progress("study", total as u64, Some(total as u64), "stages");

    let runs = collect(&plan)?;
    write_runs(&results_dir, &runs)?;
    let stage_seconds = plan
        .stages
        .iter()
        .filter_map(|s| s.address.report::<serde_json::Value>().ok())
        .filter_map(|r| r["seconds"].as_f64())
        .sum();
    let info = RunInfo {
        device: device_name.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        stage_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    let summary = report::write(study, &runs, &info, &results_dir)?;
    Ok(Outcome {
        results: results_dir,
        summary,
        stages_run: todo.len(),
        stages: total,
    })
}

fn short_time(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.0} min", s / 60.0)
    }
}

/// A run of the plan with its measurements, once its measure stage is done.
fn load_run(plan: &Plan, r: &PlannedRun) -> Result<Option<Run>> {
    let last = *r
        .stages
        .last()
        .ok_or_else(|| Error::InvalidInput("a run without stages".into()))?;
    if !plan.stages[last].address.is_done() {
        return Ok(None);
    }
    let measured: Measured = store::read_json(&plan.stages[last].output())?;
    Ok(Some(Run {
        setting: r.setting.clone(),
        seed: r.seed,
        stages: r
            .stages
            .iter()
            .map(|&i| {
                let a = &plan.stages[i].address;
                format!("{}-{}", a.kind, a.hash)
            })
            .collect(),
        measured,
    }))
}

/// Every run's measurements; all must be done.
fn collect(plan: &Plan) -> Result<Vec<Run>> {
    plan.runs
        .iter()
        .map(|r| {
            load_run(plan, r)?.ok_or_else(|| {
                Error::InvalidInput(format!(
                    "the run {} (seed {}) has not been measured",
                    r.setting.key(),
                    r.seed
                ))
            })
        })
        .collect()
}

/// The runs measured so far: what a face shows while a study fills in.
pub fn measured_runs(plan: &Plan) -> Result<Vec<Run>> {
    let mut out = Vec::new();
    for r in &plan.runs {
        if let Some(run) = load_run(plan, r)? {
            out.push(run);
        }
    }
    Ok(out)
}

/// Where one run of a study stands.
#[derive(Debug, Clone, Serialize)]
pub struct RunState {
    pub setting: Setting,
    pub seed: u64,
    pub stages_done: usize,
    pub stages: usize,
}

/// Where every run of the plan stands, read from the store.
pub fn states(plan: &Plan) -> Vec<RunState> {
    plan.runs
        .iter()
        .map(|r| RunState {
            setting: r.setting.clone(),
            seed: r.seed,
            stages_done: r
                .stages
                .iter()
                .filter(|&&i| plan.stages[i].address.is_done())
                .count(),
            stages: r.stages.len(),
        })
        .collect()
}

/// The file of every run's items, from which `study report` redraws everything.
pub const RUNS: &str = "runs.jsonl";

fn write_runs(dir: &Path, runs: &[Run]) -> Result<()> {
    let mut text = String::new();
    for r in runs {
        text.push_str(&serde_json::to_string(r).map_err(|e| Error::Serialize(e.to_string()))?);
        text.push('\n');
    }
    crate::fsx::write_atomic(&dir.join(RUNS), text.as_bytes())
}

/// Redraws the report of a study folder from its `study.toml` and `runs.jsonl`.
pub fn rerender(dir: &Path) -> Result<Summary> {
    let study_file = dir.join("study.toml");
    let text = std::fs::read_to_string(&study_file).map_err(|e| Error::io(&study_file, e))?;
    let study: Study = toml::from_str(&text)
        .map_err(|e| Error::bad_file(&study_file, format!("not a resolved study: {e}")))?;
    let runs_file = dir.join(RUNS);
    let runs_text = std::fs::read_to_string(&runs_file).map_err(|e| Error::io(&runs_file, e))?;
    let runs: Vec<Run> = runs_text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l)
                .map_err(|e| Error::bad_file(&runs_file, format!("line {}: {e}", n + 1)))
        })
        .collect::<Result<_>>()?;
    let old: Summary = store::read_json(&dir.join(report::SUMMARY))?;
    report::write(&study, &runs, &old.info, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_study_reads_at_every_scale_and_plans_shared_stages_once() {
        let layout = Layout::new(Path::new("ws"));
        for (name, _) in SHIPPED {
            for scale in manifest::SCALES {
                let s = open(name, scale).unwrap_or_else(|e| panic!("{name} at {scale}: {e}"));
                // Three seeds for the four questions; the multilingual study has a run per
                // language instead (three seeds at the standard scale).
                let seeds = s.grid.seeds.len();
                match name.starts_with("rq") || scale == "standard" {
                    true => assert_eq!(seeds, 3, "{name} at {scale}"),
                    false => assert!(s.targets().len() >= 13, "{name}"),
                }
                let p = plan(&s, &layout).unwrap();
                assert_eq!(p.runs.len(), s.settings().len() * seeds);
                // Each stage once: no two share an address.
                for (i, a) in p.stages.iter().enumerate() {
                    assert!(p.stages[i + 1..].iter().all(|b| b.address != a.address));
                }
            }
        }
        // The studies share their stages: the world, the base model and RQ2's pretraining
        // runs are RQ4's too.
        let stages = |name: &str| -> Vec<String> {
            plan(&open(name, "quick").unwrap(), &layout)
                .unwrap()
                .stages
                .iter()
                .map(|s| s.address.hash.clone())
                .collect()
        };
        let rq2 = stages("rq2-scale");
        // A model trained elsewhere is one more run, measured as it is.
        let text = format!(
            "{}\n[[elsewhere]]\nname = \"lf\"\nmodel = \"{}\"\npretrain_tokens = 61440\n",
            SHIPPED[1].1,
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-llama-a")
        );
        let study = Study::parse(&text, Path::new("rq2.toml"), Path::new("."), "quick").unwrap();
        let with = plan(&study, &layout).unwrap();
        let without = plan(&open("rq2-scale", "quick").unwrap(), &layout).unwrap();
        assert_eq!(with.runs.len(), without.runs.len() + 1);
        let last = with.runs.last().unwrap();
        assert_eq!(last.stages.len(), 1);
        assert!(last.setting.label(&[]).contains("lf (trained elsewhere)"));
        assert!(last.setting.key().starts_with("elsewhere-lf_"));
        assert_eq!(study.all_settings().len(), study.settings().len() + 1);
        // Two with one name, or a folder that holds no model, are refused by name.
        let twice = format!(
            "{text}\n[[elsewhere]]\nname = \"lf\"\nmodel = \"{}\"\n",
            env!("CARGO_MANIFEST_DIR")
        );
        let e = Study::parse(&twice, Path::new("rq2.toml"), Path::new("."), "quick").unwrap_err();
        assert!(e.to_string().contains("name `lf`"), "{e}");
        let rq4 = stages("rq4-codeswitch");
        assert!(
            rq4.iter().all(|h| rq2.contains(h)),
            "RQ4 needs a stage RQ2 lacks"
        );
    }
}
