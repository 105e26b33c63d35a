//! The stages a study chains for each cell: generate the world, train its base model, extend the
//! vocabulary and resize the model to it, further pretraining, instruction tuning, and measuring
//! the result. Each stage is described by a spec (what goes into its address) and runs into its
//! own folder of the store; the training stages are ordinary `beyond train` runs.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::Serialize;

use super::manifest::{Study, TrainingSettings, VocabChoice};
use super::store::{Address, Store};
use crate::error::{Error, Result};
use crate::jobs::JobContext;
use crate::model::TextTokenizer;
use crate::train::RunConfig;
use crate::vocab::ResizeInit;
use crate::world::{WorldSpec, language::LanguagePack};

/// The world a study generates.
#[derive(Debug, Clone, Serialize)]
pub struct WorldStage {
    pub seed: u64,
    pub people: usize,
    pub languages: Vec<String>,
    pub target_tokens: u64,
}

/// The English base model of a world: its own recipe, for `epochs` passes when given.
#[derive(Debug, Clone, Serialize)]
pub struct BaseStage {
    pub world: String,
    pub epochs: Option<u64>,
}

/// A tokenizer extended by `add` tokens learned from the target corpus, and the model resized
/// to it.
#[derive(Debug, Clone, Serialize)]
pub struct VocabStage {
    pub from: String,
    pub corpus: String,
    pub add: usize,
    pub init: ResizeInit,
    pub min_frequency: u64,
}

/// Further pretraining or instruction tuning, from a model.
#[derive(Debug, Clone, Serialize)]
pub struct TrainStage {
    pub from: String,
    /// `pretrain` or `sft`.
    pub stage: &'static str,
    /// (name, content address of the file, weight).
    pub corpora: Vec<(String, String, f64)>,
    pub tokens: u64,
    pub examples: u64,
    pub seed: u64,
    pub training: TrainingSettings,
}

/// What a stage does, with the paths it reads (not part of its address).
#[derive(Debug, Clone)]
pub enum Work {
    World(WorldStage),
    Base {
        spec: BaseStage,
        world: PathBuf,
    },
    Vocab {
        spec: VocabStage,
        model: PathBuf,
        corpus: PathBuf,
    },
    Train {
        spec: TrainStage,
        model: PathBuf,
        corpora: Vec<PathBuf>,
    },
    Measure {
        spec: super::measure::MeasureStage,
        model: PathBuf,
    },
}

/// A stage in the plan.
#[derive(Debug, Clone)]
pub struct Planned {
    pub address: Address,
    pub work: Work,
    /// For people: `further pretraining (20480 tokens, seed 1)`.
    pub label: String,
    /// A rough cost in training tokens, for the time left.
    pub cost: f64,
}

impl Planned {
    /// The model (or world) folder this stage leaves.
    pub fn output(&self) -> PathBuf {
        let d = &self.address.dir;
        match &self.work {
            Work::World(_) => d.clone(),
            Work::Base { .. } | Work::Train { .. } => d.join("final"),
            Work::Vocab { .. } => d.join("model"),
            Work::Measure { .. } => d.join(super::measure::MEASURES),
        }
    }
}

pub(super) fn world_stage(study: &Study, store: &Store) -> Result<Option<Planned>> {
    let Some(w) = &study.world else {
        return Ok(None);
    };
    let spec = WorldStage {
        seed: w.seed,
        people: w.people,
        languages: w.languages.clone(),
        target_tokens: w.target_tokens,
    };
    Ok(Some(Planned {
        address: store.address("world", &spec)?,
        label: format!("world (seed {}, {} people)", w.seed, w.people),
        cost: 1_000.0,
        work: Work::World(spec),
    }))
}

pub(super) fn base_stage(study: &Study, store: &Store, world: &Planned) -> Result<Planned> {
    let epochs = study.world.as_ref().and_then(|w| w.base_epochs);
    let spec = BaseStage {
        world: world.address.hash.clone(),
        epochs,
    };
    let people = study.world.as_ref().map_or(120, |w| w.people);
    Ok(Planned {
        address: store.address("base", &spec)?,
        label: "base model (English)".into(),
        // About 1,000 tokens per person in the base corpus, per pass.
        cost: (people * 1_000) as f64 * epochs.unwrap_or(super::recipes::BASE_EPOCHS) as f64,
        work: Work::Base {
            spec,
            world: world.output(),
        },
    })
}

pub(super) fn vocab_stage(
    study: &Study,
    store: &Store,
    from: (&str, &Path),
    corpus: &Path,
    add: usize,
) -> Result<Planned> {
    let spec = VocabStage {
        from: from.0.to_string(),
        corpus: store.identity(corpus),
        add,
        init: study.vocab.init,
        min_frequency: study.vocab.min_frequency,
    };
    Ok(Planned {
        address: store.address("vocab", &spec)?,
        label: format!(
            "{} (+{add} tokens, {:?} init)",
            VocabChoice::Extended(add),
            spec.init
        ),
        cost: 2_000.0,
        work: Work::Vocab {
            spec,
            model: from.1.to_path_buf(),
            corpus: corpus.to_path_buf(),
        },
    })
}

pub(super) struct TrainPlan<'a> {
    pub stage: &'static str,
    pub from: (&'a str, &'a Path),
    pub corpora: Vec<(String, PathBuf, f64)>,
    pub tokens: u64,
    pub examples: u64,
    pub seed: u64,
}

pub(super) fn train_stage(study: &Study, store: &Store, plan: TrainPlan) -> Result<Planned> {
    let spec = TrainStage {
        from: plan.from.0.to_string(),
        stage: plan.stage,
        corpora: plan
            .corpora
            .iter()
            .map(|(n, p, w)| (n.clone(), store.identity(p), *w))
            .collect(),
        tokens: plan.tokens,
        examples: plan.examples,
        seed: plan.seed,
        training: study.training.clone(),
    };
    let (label, cost) = match plan.stage {
        "sft" => (
            format!(
                "instruction tuning ({} examples, seed {})",
                plan.examples, plan.seed
            ),
            // Examples are short: about 40 tokens each.
            plan.examples as f64 * 40.0,
        ),
        _ => (
            format!(
                "further pretraining ({} tokens{}, seed {})",
                plan.tokens,
                match plan.corpora.get(1) {
                    Some((name, _, w)) => format!(", {:.0}% {name}", 100.0 * w),
                    None => String::new(),
                },
                plan.seed
            ),
            plan.tokens as f64,
        ),
    };
    Ok(Planned {
        address: store.address(plan.stage, &spec)?,
        label,
        cost,
        work: Work::Train {
            spec,
            model: plan.from.1.to_path_buf(),
            corpora: plan.corpora.into_iter().map(|(_, p, _)| p).collect(),
        },
    })
}

/// Runs one stage into its folder and marks it done.
pub(super) fn run(planned: &Planned, device: &Device, ctx: &JobContext) -> Result<()> {
    let a = &planned.address;
    let started = std::time::Instant::now();
    match &planned.work {
        Work::World(spec) => {
            a.begin(spec)?;
            run_world(spec, &a.dir, ctx)?;
        }
        Work::Base { spec, world } => {
            a.begin(spec)?;
            let mut config = RunConfig::from_toml_file(&world.join("recipes/base.toml"))?;
            config.output = a.dir.clone();
            if let Some(epochs) = spec.epochs {
                let summary: serde_json::Value =
                    super::store::read_json(&world.join("world.json"))?;
                let base = summary["summary"]["languages"][0].as_str().unwrap_or("en");
                let tokens = summary["summary"]["corpora"][base]["tokens"]
                    .as_u64()
                    .unwrap_or(0);
                let block = (config.data.seq_len * config.data.batch_size) as u64;
                config.budget.tokens = ((tokens * epochs) / block).max(1) * block;
            }
            crate::train::train(&config, device, true, ctx)?;
        }
        Work::Vocab {
            spec,
            model,
            corpus,
        } => {
            a.begin(spec)?;
            let base = TextTokenizer::open(&model.join("tokenizer.json"), None, &[])?;
            let text = corpus_text(corpus)?;
            let extension = crate::vocab::extend(&base, &text, spec.add, spec.min_frequency)?;
            let tokenizer = a.dir.join("tokenizer.json");
            crate::fsx::write_atomic(&tokenizer, extension.json.as_bytes())?;
            crate::vocab::resize_checkpoint(model, &tokenizer, spec.init, 0, &a.dir.join("model"))?;
        }
        Work::Train {
            spec,
            model,
            corpora,
        } => {
            a.begin(spec)?;
            let text = train_manifest(spec, model, corpora, &a.dir);
            let config = RunConfig::from_toml(&text, &a.dir.join("run.toml"), &a.dir)?;
            crate::train::train(&config, device, true, ctx)?;
        }
        Work::Measure { spec, model } => {
            a.begin(spec)?;
            let measured = super::measure::measure(spec, model, device, ctx)?;
            super::store::write_json(&a.dir.join(super::measure::MEASURES), &measured)?;
        }
    }
    a.finish(&serde_json::json!({
        "label": planned.label,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

fn run_world(spec: &WorldStage, dir: &Path, ctx: &JobContext) -> Result<()> {
    let mut w = WorldSpec::new(spec.seed)?;
    w.people = spec.people;
    w.target_tokens = spec.target_tokens;
    w.languages = spec
        .languages
        .iter()
        .map(|l| LanguagePack::built_in(l))
        .collect::<Result<_>>()?;
    super::make_world(w, dir, &mut |stage| ctx.message(format!("world: {stage}")))?;
    Ok(())
}

/// A TOML string literal.
fn quoted(p: &Path) -> String {
    toml::Value::String(p.to_string_lossy().into_owned()).to_string()
}

/// The `beyond train` manifest of a training stage.
fn train_manifest(spec: &TrainStage, model: &Path, corpora: &[PathBuf], dir: &Path) -> String {
    let t = &spec.training;
    let sft = spec.stage == "sft";
    let batch = if sft { t.sft_batch_size } else { t.batch_size };
    let steps = if sft {
        spec.examples.div_ceil(batch as u64)
    } else {
        spec.tokens / (t.seq_len * batch) as u64
    };
    let mut text = format!(
        "stage = \"{stage}\"\noutput = {output}\nseed = {seed}\n\n[model]\nbase = {model}\n\n\
         [data]\nseq_len = {seq}\nbatch_size = {batch}\nheldout_every = 0\n",
        stage = spec.stage,
        output = quoted(dir),
        seed = spec.seed,
        model = quoted(model),
        seq = t.seq_len,
    );
    for ((name, _, weight), path) in spec.corpora.iter().zip(corpora) {
        text.push_str(&format!(
            "\n[[data.corpus]]\nname = \"{name}\"\npath = {}\nweight = {weight}\n",
            quoted(path)
        ));
    }
    match sft {
        true => text.push_str(&format!("\n[budget]\nexamples = {}\n", spec.examples)),
        false => text.push_str(&format!("\n[budget]\ntokens = {}\n", spec.tokens)),
    }
    text.push_str(&format!(
        "\n[optimizer]\nkind = \"adamw\"\nweight_decay = {wd}\nclip_norm = 1.0\n\n\
         [schedule]\nlr = {lr:e}\nwarmup_steps = {warmup}\ndecay = \"cosine\"\nmin_lr_ratio = 0.1\n\n\
         [checkpoint]\nevery = 50\nkeep = 1\n\n[eval]\nevery = 0\n",
        wd = if sft { 0.0 } else { 0.01 },
        lr = if sft { t.sft_lr } else { t.pretrain_lr },
        warmup = (steps / 10).clamp(1, 20),
    ));
    text
}

/// The text of a corpus for learning tokens: plain text as it is, JSON Lines by their `text`
/// field (or every string field of an instruction record).
pub(super) fn corpus_text(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
        return Ok(text);
    }
    let mut out = String::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::bad_file(path, format!("line {}: {e}", n + 1)))?;
        let fields: Vec<&str> = match v.get("text").and_then(|t| t.as_str()) {
            Some(t) => vec![t],
            None => v
                .as_object()
                .map(|o| o.values().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default(),
        };
        for f in fields {
            out.push_str(f);
            out.push('\n');
        }
    }
    Ok(out)
}

/// What identifies an input file or folder without reading it whole: its path, sizes and times
/// of change.
pub(super) fn fingerprint(path: &Path) -> String {
    let one = |p: &Path| -> String {
        match std::fs::metadata(p) {
            Ok(m) => format!(
                "{}:{}:{}",
                p.display(),
                m.len(),
                m.modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos())
            ),
            Err(_) => format!("{}:missing", p.display()),
        }
    };
    if !path.is_dir() {
        return one(path);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    entries
        .iter()
        .map(|p| fingerprint(p))
        .collect::<Vec<_>>()
        .join("|")
}
