//! The work a person starts from a face: one function per task, run inside a job by the command
//! line, the desktop app, the server and the browser alike. Each takes model directories and a
//! device, loads the models one after another, and reports through the job's events.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::Device;

use crate::error::{Error, Result};
use crate::eval::mcq::{self, McqOptions, McqReport, McqSet};
use crate::eval::perplexity::{
    PerplexityOptions, PerplexityReport, bits_per_byte_change, named_corpus, perplexity,
};
use crate::eval::prompts::{Answer, EvalPrompt};
use crate::eval::respond::{RespondOptions, respond};
use crate::eval::retention::{self, AccuracyChange};
use crate::eval::stats::Interval;
use crate::jobs::{Event, JobContext};
use crate::model::generate::TokenStep;
use crate::model::{Generation, LoadedModel, SamplingConfig, generate};

impl LoadedModel {
    /// Continues `prompt` (ids, BOS included if wanted) with the model's own tokenizer, its
    /// end-of-sequence ids and stop strings; `on_token` sees each step and may stop it.
    pub fn continue_ids(
        &self,
        prompt: &[u32],
        sampling: &SamplingConfig,
        on_token: impl FnMut(&TokenStep) -> ControlFlow<()>,
    ) -> Result<Generation> {
        let tokenizer = self.require_tokenizer()?;
        generate(
            &self.model,
            Some(tokenizer),
            prompt,
            sampling,
            &tokenizer.eos_ids,
            on_token,
        )
    }
}

/// A generation and how long it took.
#[derive(Debug, Clone)]
pub struct Generated {
    pub generation: Generation,
    pub seconds: f64,
}

impl Generated {
    /// New tokens per second of generation (loading not counted).
    pub fn tokens_per_second(&self) -> f64 {
        let new = self.generation.ids.len() - self.generation.prompt_len;
        new as f64 / self.seconds.max(1e-9)
    }
}

/// Loads the model in `dir` and continues `prompt` (text; BOS added as the tokenizer does),
/// emitting each token as [`Event::Token`]; stopping the job stops the generation where it is.
pub fn generate_text(
    dir: &Path,
    prompt: &str,
    sampling: &SamplingConfig,
    device: &Device,
    ctx: &JobContext,
) -> Result<Generated> {
    sampling.validate()?;
    ctx.message(format!("loading {}", dir.display()));
    let loaded = LoadedModel::open(dir, device)?;
    let ids = loaded.require_tokenizer()?.encode_with_bos(prompt)?;
    let started = Instant::now();
    let generation = loaded.continue_ids(&ids, sampling, |step| {
        ctx.emit(Event::Token {
            id: step.id,
            text: step.text.clone(),
        });
        match ctx.is_cancelled() {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        }
    })?;
    Ok(Generated {
        generation,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Multiple-choice knowledge of one or more models on the same questions.
#[derive(Debug, Clone)]
pub struct Knowledge {
    /// One report per model, in the order given.
    pub reports: Vec<McqReport>,
    /// With two models: the second minus the first, per scoring, paired over questions.
    pub change: Option<Vec<AccuracyChange>>,
}

/// Asks each model in `models` the questions of `set`.
pub fn knowledge(
    models: &[PathBuf],
    set: &McqSet,
    options: &McqOptions,
    device: &Device,
    ctx: &JobContext,
) -> Result<Knowledge> {
    let mut reports = Vec::with_capacity(models.len());
    for dir in models {
        ctx.message(format!("loading {}", dir.display()));
        let loaded = LoadedModel::open(dir, device)?;
        reports.push(mcq::evaluate(
            &loaded.model,
            loaded.require_tokenizer()?,
            set,
            options,
            Some(ctx),
        )?);
    }
    let change = match reports.as_slice() {
        [before, after] => Some(retention::compare(before, after, 0)?),
        _ => None,
    };
    Ok(Knowledge { reports, change })
}

/// A named held-out text.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub name: String,
    pub text: String,
}

/// Reads corpora given as `NAME=FILE` or `FILE` (named by its stem); each must be UTF-8.
pub fn read_corpora<S: AsRef<str>>(specs: &[S]) -> Result<Vec<Corpus>> {
    specs
        .iter()
        .map(|spec| {
            let (name, path) = named_corpus(spec.as_ref());
            Ok(Corpus {
                name,
                text: read_utf8(&path)?,
            })
        })
        .collect()
}

/// A text file, or an error naming it and where its bytes stop being UTF-8.
pub fn read_utf8(path: &Path) -> Result<String> {
    crate::error::utf8_text(path, std::fs::read(path).map_err(|e| Error::io(path, e))?)
}

/// One corpus measured under each model.
#[derive(Debug, Clone)]
pub struct CorpusPerplexity {
    pub corpus: String,
    /// One report per model, in the order given.
    pub reports: Vec<PerplexityReport>,
    /// With two models: the change in bits per byte, paired over lines.
    pub change: Option<Interval>,
}

/// Perplexity and bits per byte of each model on each corpus.
pub fn perplexities(
    models: &[PathBuf],
    corpora: &[Corpus],
    options: &PerplexityOptions,
    device: &Device,
    ctx: &JobContext,
) -> Result<Vec<CorpusPerplexity>> {
    let mut per_model: Vec<Vec<PerplexityReport>> = Vec::with_capacity(models.len());
    for dir in models {
        ctx.message(format!("loading {}", dir.display()));
        let loaded = LoadedModel::open(dir, device)?;
        let tokenizer = loaded.require_tokenizer()?;
        let mut reports = Vec::with_capacity(corpora.len());
        for corpus in corpora {
            ctx.message(format!("{}: {}", dir.display(), corpus.name));
            reports.push(perplexity(
                &loaded.model,
                tokenizer,
                &corpus.text,
                options,
                Some(ctx),
            )?);
        }
        per_model.push(reports);
    }
    corpora
        .iter()
        .enumerate()
        .map(|(i, corpus)| {
            let reports: Vec<PerplexityReport> = per_model.iter().map(|r| r[i].clone()).collect();
            let change = match reports.as_slice() {
                [before, after] => Some(bits_per_byte_change(before, after)?),
                _ => None,
            };
            Ok(CorpusPerplexity {
                corpus: corpus.name.clone(),
                reports,
                change,
            })
        })
        .collect()
}

/// The model in `dir` answers each prompt (for code-switching and answer quality).
pub fn answers(
    dir: &Path,
    prompts: &[EvalPrompt],
    options: &RespondOptions,
    device: &Device,
    ctx: &JobContext,
) -> Result<Vec<Answer>> {
    options.sampling.validate()?;
    ctx.message(format!("loading {}", dir.display()));
    let loaded = LoadedModel::open(dir, device)?;
    respond(
        &loaded.model,
        loaded.require_tokenizer()?,
        prompts,
        options,
        Some(ctx),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corpus_that_is_not_utf8_is_named_with_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.txt");
        std::fs::write(&path, b"ok\n\xff").unwrap();
        let e = read_corpora(&[format!("zh={}", path.display())]).unwrap_err();
        let message = e.to_string();
        assert!(message.contains("bad.txt"), "{message}");
        assert!(message.contains("offset 3"), "{message}");
        let missing = read_corpora(&["nowhere.txt"]).unwrap_err().to_string();
        assert!(missing.contains("nowhere.txt"), "{missing}");
    }
}
