//! A study as a TOML file: its inputs (a world to generate, or real files), the grid of settings
//! it compares, what it measures, and the paper's findings it puts to the data. A `[scale.NAME]`
//! table overrides any of the file's values for that scale (`quick` for minutes on a laptop,
//! `standard` for a GPU or an afternoon). Relative paths are relative to the study file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::eval::mcq::Format;
use crate::vocab::resize::ResizeInit;

/// The most cells (settings x seeds) a study may have: beyond it the grid is a typo, or a
/// cluster's job, not a laptop's.
pub const MAX_RUNS: usize = 256;

/// A study file, resolved for one scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Study {
    /// A short name: the folder its results go to.
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The language transferred to.
    pub target: String,
    /// The base model's language.
    #[serde(default = "english")]
    pub base_language: String,
    /// A synthetic world to generate (the embedded default) ...
    pub world: Option<WorldInputs>,
    /// ... or real inputs.
    pub inputs: Option<RealInputs>,
    pub grid: Grid,
    #[serde(default)]
    pub vocab: VocabSettings,
    #[serde(default)]
    pub training: TrainingSettings,
    #[serde(default)]
    pub measure: MeasureSettings,
    #[serde(default, rename = "finding")]
    pub findings: Vec<Finding>,
    /// Models trained outside beyond (LLaMA-Factory's output, say), measured as cells of their
    /// own beside the grid's.
    #[serde(default, rename = "elsewhere", skip_serializing_if = "Vec::is_empty")]
    pub elsewhere: Vec<Elsewhere>,
    /// The scale this was resolved for.
    #[serde(default)]
    pub scale: String,
}

fn english() -> String {
    "en".into()
}

/// The world a study generates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldInputs {
    pub seed: u64,
    #[serde(default = "people")]
    pub people: usize,
    /// The base language first.
    #[serde(default = "languages")]
    pub languages: Vec<String>,
    /// Tokens of each target-language corpus.
    #[serde(default = "target_tokens")]
    pub target_tokens: u64,
    /// Passes over the base corpus for the base model (the world's recipe when absent).
    pub base_epochs: Option<u64>,
}

fn people() -> usize {
    120
}
fn languages() -> Vec<String> {
    vec!["en".into(), "zh".into()]
}
fn target_tokens() -> u64 {
    60_000
}

/// A model trained elsewhere: where it is, and the grid point it stands for (all but `name`
/// and `model` optional; the study's target and an untouched vocabulary by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Elsewhere {
    /// Its name in the report.
    pub name: String,
    /// An HF model directory or a LoRA adapter (merged into its base when measured).
    pub model: PathBuf,
    pub target: Option<String>,
    #[serde(default = "original_one")]
    pub vocab: VocabChoice,
    #[serde(default)]
    pub pretrain_tokens: u64,
    #[serde(default)]
    pub english_share: f64,
    #[serde(default)]
    pub instruct_examples: u64,
    #[serde(default)]
    pub seed: u64,
}

fn original_one() -> VocabChoice {
    VocabChoice::Original
}

/// Real inputs: a model and files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealInputs {
    /// The base model: an HF directory with its tokenizer.
    pub model: PathBuf,
    /// Further-pretraining text per language (`.txt` or `.jsonl`).
    #[serde(default)]
    pub corpus: BTreeMap<String, PathBuf>,
    /// Held-out text per language, for bits per byte.
    #[serde(default)]
    pub heldout: BTreeMap<String, PathBuf>,
    /// Instruction data per language (Alpaca, conversations or messages).
    #[serde(default)]
    pub instruct: BTreeMap<String, PathBuf>,
    /// Held-out prompts per language, answered by each model.
    #[serde(default)]
    pub prompts: BTreeMap<String, PathBuf>,
    #[serde(default, rename = "benchmark")]
    pub benchmarks: Vec<BenchmarkInput>,
}

/// A knowledge benchmark in a published layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkInput {
    pub format: Format,
    pub path: PathBuf,
    /// The language its questions are in.
    pub language: String,
    #[serde(default)]
    pub shots: usize,
}

/// The settings a study compares; every combination is a cell, run once per seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    /// `original`, or `extended:N` (N tokens learned from the target corpus).
    #[serde(default = "original")]
    pub vocab: Vec<VocabChoice>,
    /// Further-pretraining tokens (0: none).
    #[serde(default = "zero")]
    pub pretrain_tokens: Vec<u64>,
    /// Share of base-language text mixed into further pretraining.
    #[serde(default = "zero_share")]
    pub english_share: Vec<f64>,
    /// Instruction-tuning examples (0: none).
    #[serde(default = "zero")]
    pub instruct_examples: Vec<u64>,
    /// Languages transferred to, one cell each (the study's `target` when absent): the
    /// multilingual study repeats the transfer in each.
    #[serde(default)]
    pub target: Vec<String>,
    /// Seeds of everything after the base model.
    pub seeds: Vec<u64>,
}

fn original() -> Vec<VocabChoice> {
    vec![VocabChoice::Original]
}
fn zero() -> Vec<u64> {
    vec![0]
}
fn zero_share() -> Vec<f64> {
    vec![0.0]
}

/// The vocabulary axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum VocabChoice {
    Original,
    Extended(usize),
}

impl TryFrom<String> for VocabChoice {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        let t = s.trim();
        if t == "original" {
            return Ok(VocabChoice::Original);
        }
        match t
            .strip_prefix("extended:")
            .map(|n| n.trim().parse::<usize>())
        {
            Some(Ok(n)) if n > 0 => Ok(VocabChoice::Extended(n)),
            _ => Err(format!(
                "vocab `{s}`: expected `original` or `extended:N` with N new tokens"
            )),
        }
    }
}

impl From<VocabChoice> for String {
    fn from(v: VocabChoice) -> String {
        v.to_string()
    }
}

impl std::fmt::Display for VocabChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VocabChoice::Original => f.write_str("original"),
            VocabChoice::Extended(n) => write!(f, "extended:{n}"),
        }
    }
}

/// How an extended vocabulary is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VocabSettings {
    /// How the new embedding rows start.
    pub init: ResizeInit,
    /// Pairs rarer than this are not learned.
    pub min_frequency: u64,
}

impl Default for VocabSettings {
    fn default() -> Self {
        Self {
            init: ResizeInit::SubwordMean,
            min_frequency: 2,
        }
    }
}

/// Hyperparameters of the stages (the world recipes' values by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingSettings {
    pub seq_len: usize,
    pub batch_size: usize,
    pub pretrain_lr: f64,
    pub sft_lr: f64,
    pub sft_batch_size: usize,
}

impl Default for TrainingSettings {
    fn default() -> Self {
        Self {
            seq_len: 128,
            batch_size: 16,
            pretrain_lr: 1e-3,
            sft_lr: 5e-4,
            sft_batch_size: 8,
        }
    }
}

/// What each model is measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeasureSettings {
    /// Held-out prompts answered per language (0: no answers).
    pub answers: usize,
    pub max_new_tokens: usize,
    /// At most this many questions per benchmark subject.
    pub questions_per_subject: Option<usize>,
    /// At most this many held-out lines per language.
    pub heldout_lines: Option<usize>,
    /// Code-switching examples kept per cell in the report.
    pub examples: usize,
    /// A judge scoring each answer on LLM-Eval's five aspects (0-3), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<StudyJudge>,
}

impl Default for MeasureSettings {
    fn default() -> Self {
        Self {
            answers: 40,
            max_new_tokens: 24,
            questions_per_subject: None,
            heldout_lines: None,
            examples: 3,
            judge: None,
        }
    }
}

/// The judge of a study's answers: an OpenAI-compatible chat API. Its key is read from
/// `BEYOND_JUDGE_KEY` (or `OPENAI_API_KEY`) when the answers are judged, never from the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyJudge {
    /// The API's base (`http://host:port/v1`) or its `.../chat/completions` address.
    pub url: String,
    pub model: String,
    /// Answers judged at once.
    #[serde(default = "judge_parallel")]
    pub parallel: usize,
}

fn judge_parallel() -> usize {
    4
}

/// A finding of the paper, put to the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub id: String,
    /// The paper's finding in one line.
    pub claim: String,
    /// A measurement name, as in `results.csv` (`knowledge.zh.both_languages`).
    pub measure: String,
    /// The axis compared: `vocab`, `pretrain_tokens`, `english_share`, `instruct_examples`.
    pub axis: Option<String>,
    /// The setting of the axis that the claim is about (`smallest` and `largest` name the
    /// ends of a numeric axis, `extended` the grid's one extended vocabulary, whatever the
    /// scale) ...
    pub a: toml::Value,
    /// ... and the one it is compared with (cells equal on every other axis, same seed).
    pub b: Option<toml::Value>,
    pub expect: Expect,
    /// For `similar`: the largest difference that counts as none; for `below`/`above`: the
    /// threshold.
    pub threshold: Option<f64>,
    /// Only cells with these settings.
    #[serde(default)]
    pub at: BTreeMap<String, toml::Value>,
    /// A positive control: an effect that must show for the instruments to be trusted.
    #[serde(default)]
    pub control: bool,
}

/// What the claim says of the measured effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// `a` measures higher than `b`.
    AHigher,
    /// `a` measures lower than `b`.
    ALower,
    /// `a` and `b` differ by less than `threshold`.
    Similar,
    /// `a` itself is below `threshold`.
    Below,
    /// `a` itself is above `threshold`.
    Above,
}

/// The axes of a grid, by name.
pub const AXES: [&str; 5] = [
    "target",
    "vocab",
    "pretrain_tokens",
    "english_share",
    "instruct_examples",
];

/// One point of the grid (every axis set), without the seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    /// The language transferred to.
    #[serde(default)]
    pub target: String,
    pub vocab: VocabChoice,
    pub pretrain_tokens: u64,
    pub english_share: f64,
    pub instruct_examples: u64,
    /// The name of a model trained elsewhere; `None` for the grid's own cells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elsewhere: Option<String>,
}

impl Setting {
    /// The value of `axis`, as the report writes it.
    pub fn value(&self, axis: &str) -> Option<String> {
        Some(match axis {
            "target" => self.target.clone(),
            "vocab" => self.vocab.to_string(),
            "pretrain_tokens" => self.pretrain_tokens.to_string(),
            "english_share" => format!("{}", self.english_share),
            "instruct_examples" => self.instruct_examples.to_string(),
            _ => return None,
        })
    }

    /// `vocab=original pretrain_tokens=20480 ...`, the axes that vary in `study`.
    pub fn label(&self, varying: &[&str]) -> String {
        let axes = varying
            .iter()
            .filter_map(|a| self.value(a).map(|v| format!("{}={v}", short(a))))
            .collect::<Vec<_>>()
            .join(" ");
        match &self.elsewhere {
            None => axes,
            Some(name) => format!("{name} (trained elsewhere) {axes}")
                .trim()
                .to_string(),
        }
    }

    /// A name usable in files: `zh_v-original_pt-20480_en-0_sft-0`.
    pub fn key(&self) -> String {
        let prefix = match &self.elsewhere {
            Some(name) => format!("elsewhere-{name}_"),
            None => String::new(),
        };
        format!(
            "{prefix}{}_v-{}_pt-{}_en-{}_sft-{}",
            self.target,
            self.vocab.to_string().replace(':', ""),
            self.pretrain_tokens,
            self.english_share,
            self.instruct_examples
        )
    }

    /// `measure` for this setting: `{target}` in it (as a finding names a measurement of
    /// whichever language a cell transfers to) becomes the setting's target.
    pub fn measure(&self, measure: &str) -> String {
        measure.replace(TARGET, &self.target)
    }

    /// The name a measurement of this setting has across targets: its target's code as
    /// `{target}`, so cells of different languages share columns and figures.
    pub fn generic(&self, measure: &str) -> String {
        let code = format!(".{}.", self.target);
        match measure.find(&code) {
            Some(i) if !self.target.is_empty() => {
                format!("{}.{TARGET}.{}", &measure[..i], &measure[i + code.len()..])
            }
            _ => measure.to_string(),
        }
    }
}

/// What a finding's measurement says for "the cell's target language".
pub const TARGET: &str = "{target}";

/// Short axis names for labels.
pub fn short(axis: &str) -> &str {
    match axis {
        "vocab" => "vocab",
        "pretrain_tokens" => "pretrain",
        "english_share" => "mix",
        "instruct_examples" => "sft",
        a => a,
    }
}

/// A TOML value as the report writes axis values (`20480`, `0.25`, `original`).
pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.trim().to_string(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    }
}

/// The scales every study file is expected to define.
pub const SCALES: [&str; 2] = ["quick", "standard"];

impl Study {
    /// Reads a study file for `scale`, resolving relative paths against its folder, and checks
    /// everything that can be checked before anything runs.
    pub fn open(path: &Path, scale: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let base = absolute(path.parent().unwrap_or(Path::new(".")));
        Self::parse(&text, path, &base, scale)
    }

    /// Parses study text; `label` names it in errors, `base` resolves relative paths.
    pub fn parse(text: &str, label: &Path, base: &Path, scale: &str) -> Result<Self> {
        let bad = |reason: String| Error::bad_file(label, reason);
        let mut root: toml::Table =
            toml::from_str(text).map_err(|e| bad(format!("not a valid study file: {e}")))?;
        let scales = match root.remove("scale") {
            None => toml::Table::new(),
            Some(toml::Value::Table(t)) => t,
            Some(_) => return Err(bad("`scale` must be a table of [scale.NAME] tables".into())),
        };
        match scales.get(scale) {
            Some(toml::Value::Table(over)) => merge(&mut root, over),
            Some(_) => return Err(bad(format!("[scale.{scale}] must be a table"))),
            // A scale the file does not adjust is the file as written.
            None if scales.is_empty() || SCALES.contains(&scale) => {}
            None => {
                return Err(bad(format!(
                    "no scale `{scale}` in this study; it has: {}",
                    scales.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        root.insert("scale".into(), toml::Value::String(scale.into()));
        let mut study: Study = toml::Value::Table(root)
            .try_into()
            .map_err(|e: toml::de::Error| bad(format!("not a valid study file: {e}")))?;
        study.resolve(base);
        study.resolve_findings();
        study.validate(label)?;
        Ok(study)
    }

    fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for e in &mut self.elsewhere {
            fix(&mut e.model);
        }
        if let Some(inputs) = &mut self.inputs {
            fix(&mut inputs.model);
            for map in [
                &mut inputs.corpus,
                &mut inputs.heldout,
                &mut inputs.instruct,
                &mut inputs.prompts,
            ] {
                map.values_mut().for_each(fix);
            }
            for b in &mut inputs.benchmarks {
                fix(&mut b.path);
            }
        }
    }

    /// Turns `smallest` and `largest` in findings into the grid's values of that axis (and
    /// `extended` into its one extended vocabulary), so a finding holds at every scale.
    fn resolve_findings(&mut self) {
        let settings = self.settings();
        let ends = |axis: &str| -> Option<(toml::Value, toml::Value)> {
            let mut values: Vec<f64> = settings
                .iter()
                .filter_map(|s| s.value(axis)?.parse::<f64>().ok())
                .collect();
            values.sort_by(f64::total_cmp);
            let as_value = |v: f64| match axis {
                "english_share" => toml::Value::Float(v),
                _ => toml::Value::Integer(v as i64),
            };
            Some((as_value(*values.first()?), as_value(*values.last()?)))
        };
        let fix = |axis: &str, v: &mut toml::Value| {
            let word = match v {
                toml::Value::String(s) => s.trim().to_string(),
                _ => return,
            };
            if axis == "vocab" && word == "extended" {
                // The grid's one extended vocabulary, whatever its size at this scale.
                let extended: Vec<VocabChoice> = self
                    .grid
                    .vocab
                    .iter()
                    .copied()
                    .filter(|v| *v != VocabChoice::Original)
                    .collect();
                if let [one] = extended.as_slice() {
                    *v = toml::Value::String(one.to_string());
                }
                return;
            }
            if let Some((low, high)) = ends(axis) {
                match word.as_str() {
                    "smallest" => *v = low,
                    "largest" => *v = high,
                    _ => {}
                }
            }
        };
        for f in &mut self.findings {
            if let Some(axis) = f.axis.clone() {
                fix(&axis, &mut f.a);
                if let Some(b) = &mut f.b {
                    fix(&axis, b);
                }
            }
            for (axis, v) in f.at.iter_mut() {
                fix(axis, v);
            }
        }
    }

    fn validate(&self, label: &Path) -> Result<()> {
        let bad = |reason: String| Err(Error::bad_file(label, reason));
        if self.name.trim().is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return bad(format!(
                "name `{}`: use letters, digits, `-` and `_` (it names the results folder)",
                self.name
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for e in &self.elsewhere {
            if e.name.trim().is_empty() || !names.insert(e.name.as_str()) {
                return bad(format!(
                    "[[elsewhere]] name `{}`: each model trained elsewhere needs a name of its own",
                    e.name
                ));
            }
            let is_model = e.model.join("config.json").is_file()
                || e.model.join("adapter_config.json").is_file();
            if !is_model {
                return bad(format!(
                    "[[elsewhere]] `{}`: {} is not an HF model directory or a LoRA adapter (no config.json or adapter_config.json)",
                    e.name,
                    e.model.display()
                ));
            }
        }
        match (&self.world, &self.inputs) {
            (Some(_), Some(_)) => return bad("give [world] or [inputs], not both".into()),
            (None, None) => {
                return bad("give the inputs: a [world] to generate or real [inputs]".into());
            }
            (Some(w), None) => {
                let packs = crate::world::language::built_in();
                for l in &w.languages {
                    if !packs.contains(&l.as_str()) {
                        return bad(format!(
                            "[world] language `{l}` has no language pack; built in: {}",
                            packs.join(", ")
                        ));
                    }
                }
                if w.languages.first() != Some(&self.base_language) {
                    return bad(format!(
                        "[world] languages must start with the base language `{}`",
                        self.base_language
                    ));
                }
                if let Some(t) = self.targets().iter().find(|t| !w.languages.contains(t)) {
                    return bad(format!(
                        "target `{t}` is not among the world's languages ({})",
                        w.languages.join(", ")
                    ));
                }
            }
            (None, Some(inputs)) => self.validate_inputs(inputs, label)?,
        }
        let g = &self.grid;
        if g.seeds.is_empty() {
            return bad("[grid] seeds is empty: give at least one seed".into());
        }
        for (axis, empty) in [
            ("vocab", g.vocab.is_empty()),
            ("pretrain_tokens", g.pretrain_tokens.is_empty()),
            ("english_share", g.english_share.is_empty()),
            ("instruct_examples", g.instruct_examples.is_empty()),
        ] {
            if empty {
                return bad(format!("[grid] {axis} is empty: give at least one value"));
            }
        }
        if let Some(s) = g
            .english_share
            .iter()
            .find(|s| !(s.is_finite() && (0.0..1.0).contains(*s)))
        {
            return bad(format!(
                "[grid] english_share {s}: a share in [0, 1) (1 would leave no target text)"
            ));
        }
        let runs = self.settings().len() * g.seeds.len();
        if runs > MAX_RUNS {
            return bad(format!(
                "the grid has {runs} runs (settings x seeds), more than {MAX_RUNS}: narrow an axis or use fewer seeds"
            ));
        }
        let one_batch = (self.training.seq_len * self.training.batch_size) as u64;
        if let Some(t) = g.pretrain_tokens.iter().find(|&&t| t > 0 && t < one_batch) {
            return bad(format!(
                "[grid] pretrain_tokens {t} is less than one batch ({one_batch} tokens)"
            ));
        }
        if let Some(n) = g
            .instruct_examples
            .iter()
            .find(|&&n| n > 0 && n < self.training.sft_batch_size as u64)
        {
            return bad(format!(
                "[grid] instruct_examples {n} is less than one batch ({})",
                self.training.sft_batch_size
            ));
        }
        for f in &self.findings {
            self.validate_finding(f)
                .map_err(|r| Error::bad_file(label, format!("[[finding]] `{}`: {r}", f.id)))?;
        }
        Ok(())
    }

    fn validate_inputs(&self, inputs: &RealInputs, label: &Path) -> Result<()> {
        let bad = |reason: String| Err(Error::bad_file(label, reason));
        if !inputs.model.join("config.json").is_file() {
            return bad(format!(
                "[inputs] model {}: no config.json there (an HF model directory is needed)",
                inputs.model.display()
            ));
        }
        for (what, map) in [
            ("corpus", &inputs.corpus),
            ("heldout", &inputs.heldout),
            ("instruct", &inputs.instruct),
            ("prompts", &inputs.prompts),
        ] {
            for (lang, p) in map {
                if !p.is_file() {
                    return bad(format!(
                        "[inputs] {what}.{lang}: {} does not exist",
                        p.display()
                    ));
                }
            }
        }
        for b in &inputs.benchmarks {
            if !b.path.exists() {
                return bad(format!(
                    "[[inputs.benchmark]] {}: {} does not exist",
                    b.format.name(),
                    b.path.display()
                ));
            }
        }
        let g = &self.grid;
        for target in &self.targets() {
            if g.pretrain_tokens.iter().any(|&t| t > 0) && !inputs.corpus.contains_key(target) {
                return bad(format!(
                    "the grid pretrains but [inputs] corpus has no `{target}` text"
                ));
            }
            if g.vocab.iter().any(|v| *v != VocabChoice::Original)
                && !inputs.corpus.contains_key(target)
            {
                return bad(format!(
                    "an extended vocabulary is learned from the `{target}` corpus, which [inputs] does not give"
                ));
            }
            if g.instruct_examples.iter().any(|&n| n > 0) && !inputs.instruct.contains_key(target) {
                return bad(format!(
                    "the grid instruction-tunes but [inputs] instruct has no `{target}` data"
                ));
            }
        }
        if g.english_share.iter().any(|&s| s > 0.0)
            && !inputs.corpus.contains_key(&self.base_language)
        {
            return bad(format!(
                "the grid mixes in `{}` but [inputs] corpus has no `{}` text",
                self.base_language, self.base_language
            ));
        }
        Ok(())
    }

    fn validate_finding(&self, f: &Finding) -> std::result::Result<(), String> {
        let known = self.measure_names();
        let named = |t: &String| known.contains(&f.measure.replace(TARGET, t));
        if !self.targets().iter().all(named) {
            return Err(format!(
                "measure `{}` is not measured by this study; it measures: {}",
                f.measure,
                known.join(", ")
            ));
        }
        let check_axis = |axis: &str, v: &toml::Value| -> std::result::Result<(), String> {
            if !AXES.contains(&axis) {
                return Err(format!(
                    "unknown axis `{axis}`; the axes are {}",
                    AXES.join(", ")
                ));
            }
            let text = value_text(v);
            let values: Vec<String> = self
                .settings()
                .iter()
                .filter_map(|s| s.value(axis))
                .collect();
            if !values.contains(&text) {
                return Err(format!(
                    "`{axis} = {text}` is not in the grid ({})",
                    dedup(values).join(", ")
                ));
            }
            Ok(())
        };
        for (axis, v) in &f.at {
            check_axis(axis, v)?;
        }
        match f.expect {
            Expect::AHigher | Expect::ALower | Expect::Similar => {
                let axis = f.axis.as_deref().ok_or("a comparison needs an `axis`")?;
                let b = f.b.as_ref().ok_or("a comparison needs `b`")?;
                check_axis(axis, &f.a)?;
                check_axis(axis, b)?;
                if f.expect == Expect::Similar && f.threshold.is_none() {
                    return Err("`similar` needs a `threshold` (the largest difference that counts as none)".into());
                }
            }
            Expect::Below | Expect::Above => {
                if f.threshold.is_none() {
                    return Err("`below` and `above` need a `threshold`".into());
                }
                if let Some(axis) = &f.axis {
                    check_axis(axis, &f.a)?;
                }
            }
        }
        Ok(())
    }

    /// Every setting of the grid, in order. Settings that cannot differ collapse into one: with
    /// no further pretraining there is nothing to mix English into.
    pub fn settings(&self) -> Vec<Setting> {
        let g = &self.grid;
        let mut out: Vec<Setting> = Vec::new();
        for target in self.targets() {
            for &vocab in &g.vocab {
                for &pretrain_tokens in &g.pretrain_tokens {
                    for &english_share in &g.english_share {
                        for &instruct_examples in &g.instruct_examples {
                            let s = Setting {
                                target: target.clone(),
                                vocab,
                                pretrain_tokens,
                                english_share: if pretrain_tokens == 0 {
                                    0.0
                                } else {
                                    english_share
                                },
                                instruct_examples,
                                elsewhere: None,
                            };
                            if !out.contains(&s) {
                                out.push(s);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The cells of the models trained elsewhere, with their seeds and directories.
    pub fn elsewhere_settings(&self) -> Vec<(Setting, u64, PathBuf)> {
        self.elsewhere
            .iter()
            .map(|e| {
                let setting = Setting {
                    target: e.target.clone().unwrap_or_else(|| self.target.clone()),
                    vocab: e.vocab,
                    pretrain_tokens: e.pretrain_tokens,
                    english_share: e.english_share,
                    instruct_examples: e.instruct_examples,
                    elsewhere: Some(e.name.clone()),
                };
                (setting, e.seed, e.model.clone())
            })
            .collect()
    }

    /// The grid's settings, then those of the models trained elsewhere: every cell a table
    /// shows.
    pub fn all_settings(&self) -> Vec<Setting> {
        let mut all = self.settings();
        all.extend(self.elsewhere_settings().into_iter().map(|(s, _, _)| s));
        all
    }

    /// The languages transferred to: the grid's `target` axis, or the study's target.
    pub fn targets(&self) -> Vec<String> {
        match self.grid.target.is_empty() {
            true => vec![self.target.clone()],
            false => dedup(self.grid.target.clone()),
        }
    }

    /// The axes with more than one value.
    pub fn varying_axes(&self) -> Vec<&'static str> {
        let settings = self.settings();
        AXES.into_iter()
            .filter(|a| {
                let v: Vec<String> = settings.iter().filter_map(|s| s.value(a)).collect();
                dedup(v).len() > 1
            })
            .collect()
    }

    /// Languages measured: the base language and the targets.
    pub fn languages(&self) -> Vec<String> {
        let mut all = vec![self.base_language.clone()];
        all.extend(self.targets());
        dedup(all)
    }

    /// The names of the measurements this study makes, as in `results.csv`.
    pub fn measure_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        let langs = self.languages();
        match &self.inputs {
            None => {
                for l in &langs {
                    for split in ["english_only", "both_languages", "never_seen", "all"] {
                        out.push(format!("knowledge.{l}.{split}"));
                    }
                    for split in ["english_only", "both_languages", "never_seen"] {
                        out.push(format!("knowledge.{l}.{split}.{}", super::measure::NUMERIC));
                    }
                }
            }
            Some(inputs) => {
                for b in &inputs.benchmarks {
                    out.push(format!("knowledge.{}.{}", b.language, format_key(b.format)));
                }
            }
        }
        for l in &langs {
            let has_heldout = match &self.inputs {
                None => true,
                Some(i) => i.heldout.contains_key(l),
            };
            if has_heldout {
                out.push(format!("bits_per_byte.{l}"));
                out.push(format!("tokens_per_char.{l}"));
            }
        }
        for t in &self.targets() {
            let has_prompts = match &self.inputs {
                None => true,
                Some(i) => i.prompts.contains_key(t),
            };
            if self.measure.answers > 0 && has_prompts {
                if self.inputs.is_none() {
                    out.push(format!("answers.{t}.fact_correct"));
                }
                out.push(format!("answers.{t}.target_share"));
                out.push(format!("answers.{t}.codeswitch_rate"));
                if self.measure.judge.is_some() {
                    for aspect in crate::eval::quality::ASPECTS {
                        out.push(format!("quality.{t}.{aspect}"));
                    }
                    out.push(format!("quality.{t}.average"));
                    out.push(format!("quality.{t}.scored"));
                }
            }
        }
        out
    }
}

/// The name a benchmark format has in measurement names.
pub fn format_key(format: Format) -> &'static str {
    match format {
        Format::Ceval => "ceval",
        Format::Mmlu => "mmlu",
        Format::Agieval => "agieval",
        Format::Gaokao => "gaokao",
        Format::World => "world",
    }
}

pub fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = Vec::new();
    v.retain(|x| {
        let new = !seen.contains(x);
        if new {
            seen.push(x.clone());
        }
        new
    });
    v
}

/// `path` made absolute against the current directory (stages run in folders of their own, so
/// a relative path would point elsewhere there).
pub fn absolute(path: &Path) -> PathBuf {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Lays `over` onto `root`: tables merge key by key, anything else replaces.
fn merge(root: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (root.get_mut(k), v) {
            (Some(toml::Value::Table(r)), toml::Value::Table(o)) => merge(r, o),
            _ => {
                root.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
name = "t"
title = "a test"
target = "zh"
[world]
seed = 1
people = 20
[grid]
vocab = ["original", "extended:50"]
pretrain_tokens = [0, 4096]
english_share = [0.0, 0.5]
seeds = [1, 2]
[[finding]]
id = "f"
claim = "original beats extended"
measure = "knowledge.zh.both_languages"
axis = "vocab"
a = "original"
b = "extended:50"
expect = "a_higher"
[scale.quick.world]
people = 12
[scale.standard.grid]
seeds = [1, 2, 3]
"#;

    fn parse(text: &str, scale: &str) -> Result<Study> {
        Study::parse(text, Path::new("t.toml"), Path::new("."), scale)
    }

    #[test]
    fn scales_override_the_file_and_the_grid_collapses_what_cannot_differ() {
        let quick = parse(SMALL, "quick").unwrap();
        assert_eq!(quick.world.as_ref().unwrap().people, 12);
        assert_eq!(quick.world.as_ref().unwrap().seed, 1);
        assert_eq!(quick.grid.seeds, vec![1, 2]);
        // 2 vocab x (pretrain 0 once + pretrain 4096 x 2 shares) = 6 settings.
        assert_eq!(quick.settings().len(), 6);
        let standard = parse(SMALL, "standard").unwrap();
        assert_eq!(standard.world.as_ref().unwrap().people, 20);
        assert_eq!(standard.grid.seeds, vec![1, 2, 3]);
        // A scale the file does not adjust is the file as written; an unknown one is refused.
        let only_standard = SMALL.replace("[scale.quick.world]\npeople = 12\n", "");
        assert_eq!(
            parse(&only_standard, "quick")
                .unwrap()
                .world
                .unwrap()
                .people,
            20
        );
        let err = parse(SMALL, "huge").unwrap_err().to_string();
        assert!(
            err.contains("no scale `huge`") && err.contains("quick, standard"),
            "{err}"
        );
    }

    #[test]
    fn a_target_axis_makes_a_cell_per_language_and_findings_name_the_cells_target() {
        let text = SMALL
            .replace(
                "people = 20",
                "people = 20\nlanguages = [\"en\", \"zh\", \"sw\", \"hi\"]",
            )
            .replace(
                "seeds = [1, 2]\n",
                "seeds = [1, 2]\ntarget = [\"sw\", \"hi\"]\n",
            )
            .replace(
                "knowledge.zh.both_languages",
                "knowledge.{target}.both_languages",
            );
        let study = parse(&text, "quick").unwrap();
        assert_eq!(study.targets(), ["sw", "hi"]);
        assert_eq!(study.languages(), ["en", "sw", "hi"]);
        let settings = study.settings();
        assert_eq!(settings.len(), 12);
        assert!(settings.iter().any(|s| s.target == "hi"));
        assert!(study.varying_axes().contains(&"target"));
        let sw = settings.iter().find(|s| s.target == "sw").unwrap();
        assert_eq!(sw.measure("knowledge.{target}.all"), "knowledge.sw.all");
        assert_eq!(sw.generic("knowledge.sw.all"), "knowledge.{target}.all");
        assert_eq!(sw.generic("knowledge.en.all"), "knowledge.en.all");
        assert!(sw.key().starts_with("sw_"));
        // A target outside the world, and a measurement no cell makes, are refused.
        let outside = text.replace("target = [\"sw\", \"hi\"]", "target = [\"sw\", \"ta\"]");
        let err = parse(&outside, "quick").unwrap_err().to_string();
        assert!(err.contains("target `ta` is not among"), "{err}");
        let unmeasured = text.replace("knowledge.{target}.both", "knowledge.{target}.none");
        assert!(parse(&unmeasured, "quick").is_err());
    }

    #[test]
    fn bad_studies_are_refused_with_what_is_wrong() {
        let unknown_axis =
            SMALL.replace("seeds = [1, 2]\n", "seeds = [1, 2]\nlearning_rate = [1]\n");
        let err = parse(&unknown_axis, "quick").unwrap_err().to_string();
        assert!(
            err.contains("t.toml") && err.contains("learning_rate"),
            "{err}"
        );

        let no_pack = SMALL.replace("people = 20", "people = 20\nlanguages = [\"en\", \"xx\"]");
        let err = parse(&no_pack, "quick").unwrap_err().to_string();
        assert!(err.contains("`xx` has no language pack"), "{err}");

        let thousands = SMALL.replace(
            "seeds = [1, 2]\n",
            &format!(
                "seeds = [{}]\n",
                (1..=400)
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        );
        let err = parse(&thousands, "quick").unwrap_err().to_string();
        assert!(
            err.contains("2400 runs") && err.contains("more than 256"),
            "{err}"
        );

        let bad_vocab = SMALL.replace("\"extended:50\"]", "\"bigger\"]");
        let err = parse(&bad_vocab, "quick").unwrap_err().to_string();
        assert!(err.contains("`bigger`"), "{err}");

        let bad_finding = SMALL.replace("b = \"extended:50\"", "b = \"extended:60\"");
        let err = parse(&bad_finding, "quick").unwrap_err().to_string();
        assert!(
            err.contains("`vocab = extended:60` is not in the grid"),
            "{err}"
        );

        let bad_measure = SMALL.replace("knowledge.zh.both_languages", "knowledge.fr.all");
        let err = parse(&bad_measure, "quick").unwrap_err().to_string();
        assert!(err.contains("`knowledge.fr.all` is not measured"), "{err}");
    }
}
