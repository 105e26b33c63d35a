//! Measuring one model of a study: knowledge by multiple choice in each language (per split of
//! the world's facts, or per benchmark), bits per byte and tokens per character on held-out
//! text, and answers to held-out instructions (fact correct, share of the target language,
//! code-switching). Every measurement keeps its items, so intervals can be drawn over questions
//! and seeds, and two models compared item by item.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::manifest::{BenchmarkInput, MeasureSettings, format_key};
use crate::data::instruct::Template;
use crate::error::{Error, Result};
use crate::eval::codeswitch::{self, SwitchOptions};
use crate::eval::mcq::{self, Format, McqOptions, Scoring};
use crate::eval::perplexity::{PerplexityOptions, perplexity};
use crate::eval::prompts::{EvalPrompt, read_prompts};
use crate::eval::respond::{RespondOptions, respond};
use crate::jobs::JobContext;
use crate::model::{LoadedModel, SamplingConfig};

/// The file a measure stage writes.
pub const MEASURES: &str = "measures.json";

/// The revision of what a measure stage measures (2: the `numeric` subsets).
pub const REVISION: u32 = 2;

/// The name of the subset of a split's questions whose options are all numbers (the world's
/// years): the answer is written alike in every language, so only the question has to cross.
pub const NUMERIC: &str = "numeric";

/// Whether every option of a question is a number (`1998`, `3.5`).
pub fn is_numeric(item: &mcq::McqItem) -> bool {
    !item.options.is_empty()
        && item.options.iter().all(|o| {
            let o = o.trim();
            !o.is_empty() && o.parse::<f64>().is_ok_and(f64::is_finite)
        })
}

/// What to measure a model on.
#[derive(Debug, Clone, Serialize)]
pub struct MeasureStage {
    /// What is measured changes with [`REVISION`]: a new revision measures stored models again.
    pub revision: u32,
    pub model: String,
    pub target: String,
    pub languages: Vec<String>,
    pub settings: MeasureSettings,
    pub sources: Sources,
}

/// Where the questions and texts come from.
#[derive(Debug, Clone, Serialize)]
pub enum Sources {
    /// A generated world's folder.
    World(PathBuf),
    Files {
        benchmarks: Vec<BenchmarkInput>,
        heldout: BTreeMap<String, PathBuf>,
        prompts: BTreeMap<String, PathBuf>,
    },
}

/// One model's measurements: per name, its items as (numerator, denominator); the value is the
/// sum of numerators over the sum of denominators (accuracy: (correct, 1); bits per byte:
/// (bits, bytes)).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub items: BTreeMap<String, Vec<(f64, f64)>>,
    /// Answers that switched language, for the report.
    pub switched: Vec<SwitchedAnswer>,
}

/// A code-switched answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchedAnswer {
    pub prompt: String,
    pub response: String,
    /// The runs in another language: (language, text).
    pub runs: Vec<(String, String)>,
}

/// Measures the model in `model` as `spec` says.
pub fn measure(
    spec: &MeasureStage,
    model: &Path,
    device: &Device,
    ctx: &JobContext,
) -> Result<Measured> {
    let loaded = LoadedModel::open(model, device)?;
    let tokenizer = loaded.require_tokenizer()?;
    let mut out = Measured::default();
    let s = &spec.settings;
    let options = McqOptions {
        shots: 0,
        scoring: vec![Scoring::Text],
        batch_size: 8,
        language: None,
        limit: s.questions_per_subject,
        seed: 0,
    };
    let mut knowledge = |set: &mcq::McqSet, prefix: String, subjects: bool| -> Result<()> {
        let report = mcq::evaluate(&loaded.model, tokenizer, set, &options, Some(ctx))?;
        let mode = report
            .modes
            .iter()
            .find(|m| m.scoring == Scoring::Text)
            .ok_or_else(|| Error::InvalidInput("text scoring gave no result".into()))?;
        let numeric: std::collections::BTreeSet<(&str, &str)> = set
            .subjects
            .iter()
            .flat_map(|s| {
                s.eval
                    .iter()
                    .filter(|i| is_numeric(i))
                    .map(move |i| (s.name.as_str(), i.id.as_str()))
            })
            .collect();
        let mut all = Vec::new();
        for item in &mode.items {
            let right = f64::from(u8::from(item.predicted == item.answer));
            if subjects {
                out.items
                    .entry(format!("{prefix}.{}", item.subject))
                    .or_default()
                    .push((right, 1.0));
                if numeric.contains(&(item.subject.as_str(), item.id.as_str())) {
                    out.items
                        .entry(format!("{prefix}.{}.{NUMERIC}", item.subject))
                        .or_default()
                        .push((right, 1.0));
                }
            }
            all.push((right, 1.0));
        }
        let name = if subjects {
            format!("{prefix}.all")
        } else {
            prefix
        };
        out.items.insert(name, all);
        Ok(())
    };
    let mut heldout: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut prompts: Vec<(EvalPrompt, Option<String>)> = Vec::new();
    match &spec.sources {
        Sources::World(world) => {
            for lang in &spec.languages {
                ctx.message(format!("knowledge in {lang}"));
                let set = mcq::read(Format::World, world, Some(lang))?;
                knowledge(&set, format!("knowledge.{lang}"), true)?;
                heldout.insert(lang.clone(), world.join(format!("heldout/{lang}.txt")));
            }
            if s.answers > 0 {
                prompts = world_prompts(world, &spec.target, s.answers)?;
            }
        }
        Sources::Files {
            benchmarks,
            heldout: files,
            prompts: prompt_files,
        } => {
            for b in benchmarks {
                ctx.message(format!("knowledge: {} ({})", b.format.name(), b.language));
                let set = mcq::read(b.format, &b.path, Some(&b.language))?;
                let options = McqOptions {
                    shots: b.shots,
                    ..options.clone()
                };
                let report = mcq::evaluate(&loaded.model, tokenizer, &set, &options, Some(ctx))?;
                let items = report
                    .modes
                    .iter()
                    .find(|m| m.scoring == Scoring::Text)
                    .map(|m| {
                        m.items
                            .iter()
                            .map(|i| (f64::from(u8::from(i.predicted == i.answer)), 1.0))
                            .collect()
                    })
                    .unwrap_or_default();
                out.items.insert(
                    format!("knowledge.{}.{}", b.language, format_key(b.format)),
                    items,
                );
            }
            heldout = files.clone();
            if s.answers > 0
                && let Some(p) = prompt_files.get(&spec.target)
            {
                prompts = read_prompts(p)?
                    .into_iter()
                    .take(s.answers)
                    .map(|p| (p, None))
                    .collect();
            }
        }
    }
    for (lang, path) in &heldout {
        if !spec.languages.contains(lang) {
            continue;
        }
        ctx.message(format!("bits per byte in {lang}"));
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(s.heldout_lines.unwrap_or(usize::MAX))
            .collect();
        let text = lines.join("\n");
        let report = perplexity(
            &loaded.model,
            tokenizer,
            &text,
            &PerplexityOptions::default(),
            Some(ctx),
        )
        .map_err(|e| match e {
            Error::InvalidInput(r) => Error::bad_file(path, r),
            e => e,
        })?;
        out.items.insert(
            format!("bits_per_byte.{lang}"),
            report
                .lines
                .iter()
                .map(|&(nll, _, bytes)| (nll / std::f64::consts::LN_2, bytes as f64))
                .collect(),
        );
        let mut per_char = Vec::with_capacity(lines.len());
        for line in &lines {
            let tokens = tokenizer.encode(line, false)?.len() as f64;
            per_char.push((tokens, line.chars().count() as f64));
        }
        out.items
            .insert(format!("tokens_per_char.{lang}"), per_char);
    }
    if !prompts.is_empty() {
        answers(spec, &loaded, &prompts, &mut out, ctx)?;
    }
    Ok(out)
}

/// Answers the prompts in the instruction template and scores them.
fn answers(
    spec: &MeasureStage,
    loaded: &LoadedModel,
    prompts: &[(EvalPrompt, Option<String>)],
    out: &mut Measured,
    ctx: &JobContext,
) -> Result<()> {
    let tokenizer = loaded.require_tokenizer()?;
    let target = &spec.target;
    let language = codeswitch::parse_language(target)?;
    let switch = SwitchOptions::new(language);
    let options = RespondOptions {
        template: Some(Template::default()),
        sampling: SamplingConfig {
            // An answer is one line: the next instruction would start after a blank line.
            stop: vec!["\n\n".into(), "###".into()],
            ..SamplingConfig::greedy(spec.settings.max_new_tokens)
        },
    };
    ctx.message(format!("answering {} prompts in {target}", prompts.len()));
    let asked: Vec<EvalPrompt> = prompts.iter().map(|(p, _)| p.clone()).collect();
    let answers = respond(&loaded.model, tokenizer, &asked, &options, Some(ctx))?;
    let mut correct = Vec::new();
    let mut share = Vec::new();
    let mut switched = Vec::new();
    for (answer, (_, truth)) in answers.iter().zip(prompts) {
        if let Some(truth) = truth {
            let right = answer.response.contains(truth.as_str());
            correct.push((f64::from(u8::from(right)), 1.0));
        }
        let analysis = codeswitch::analyse(&answer.response, &switch);
        if analysis.letters == 0 {
            continue;
        }
        share.push((analysis.expected_share, 1.0));
        switched.push((f64::from(u8::from(analysis.switched)), 1.0));
        if analysis.switched && out.switched.len() < spec.settings.examples {
            out.switched.push(SwitchedAnswer {
                prompt: answer.prompt.instruction.clone(),
                response: answer.response.clone(),
                runs: analysis
                    .switches
                    .iter()
                    .map(|s| (s.language.clone(), s.text.clone()))
                    .collect(),
            });
        }
    }
    if prompts.iter().any(|(_, t)| t.is_some()) {
        out.items
            .insert(format!("answers.{target}.fact_correct"), correct);
    }
    if let Some(j) = &spec.settings.judge {
        judge(j, &answers, target, out, ctx);
    }
    out.items
        .insert(format!("answers.{target}.target_share"), share);
    out.items
        .insert(format!("answers.{target}.codeswitch_rate"), switched);
    Ok(())
}

/// Scores the answers on LLM-Eval's five aspects (0-3) by the study's judge: one item per
/// answer the judge scored, and the share it scored (a reply without scores is counted, not
/// guessed).
fn judge(
    j: &super::manifest::StudyJudge,
    answers: &[crate::eval::prompts::Answer],
    target: &str,
    out: &mut Measured,
    ctx: &JobContext,
) {
    use crate::eval::judge::{Judge, JudgeConfig, Secret, judge_answers};
    use crate::eval::quality::ASPECTS;
    let key = Secret::from_env(crate::eval::judge::JUDGE_KEY_VARIABLE);
    let judge = Judge::new(JudgeConfig {
        url: j.url.clone(),
        model: j.model.clone(),
        key,
        timeout: std::time::Duration::from_secs(120),
        attempts: 2,
    });
    ctx.message(format!("judging {} answers at {}", answers.len(), j.url));
    let scores = judge_answers(&judge, answers, j.parallel, Some(ctx));
    let mut aspects: Vec<Vec<(f64, f64)>> = vec![Vec::new(); ASPECTS.len() + 1];
    let mut scored = Vec::new();
    for s in &scores {
        match s {
            Some(Ok(s)) => {
                for (i, v) in s.values().into_iter().enumerate() {
                    aspects[i].push((v, 1.0));
                }
                aspects[ASPECTS.len()].push((s.average(), 1.0));
                scored.push((1.0, 1.0));
            }
            Some(Err(reason)) => {
                ctx.message(format!("an answer was not scored: {reason}"));
                scored.push((0.0, 1.0));
            }
            None => {}
        }
    }
    let names = ASPECTS.iter().copied().chain(["average"]);
    for (name, items) in names.zip(aspects) {
        out.items.insert(format!("quality.{target}.{name}"), items);
    }
    out.items.insert(format!("quality.{target}.scored"), scored);
}

/// Held-out instructions of a world: questions in the target language about facts the
/// instruction data did not teach, each with its true answer; facts told in some language, so a
/// model could know them.
fn world_prompts(
    world: &Path,
    target: &str,
    n: usize,
) -> Result<Vec<(EvalPrompt, Option<String>)>> {
    #[derive(Deserialize)]
    struct Q {
        language: String,
        fact: usize,
        split: String,
        instructed: bool,
        part: String,
        question: String,
        options: Vec<String>,
        answer: String,
    }
    let path = world.join("bench/questions.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: Q = serde_json::from_str(line)
            .map_err(|e| Error::bad_file(&path, format!("line {}: {e}", i + 1)))?;
        if q.language != target || q.instructed || q.part == "dev" || q.split == "never_seen" {
            continue;
        }
        let index = (q.answer.bytes().next().unwrap_or(b'A') - b'A') as usize;
        let truth = q.options.get(index).cloned();
        out.push((
            EvalPrompt {
                id: q.fact.to_string(),
                category: q.split,
                instruction: q.question,
                input: String::new(),
                reference: truth.clone().unwrap_or_default(),
            },
            truth,
        ));
        if out.len() == n {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(options: &[&str]) -> mcq::McqItem {
        mcq::McqItem {
            id: "1".into(),
            passage: None,
            question: "?".into(),
            options: options.iter().map(|o| o.to_string()).collect(),
            answer: 0,
            explanation: None,
        }
    }

    #[test]
    fn numeric_questions_have_only_numbers_for_options() {
        assert!(is_numeric(&item(&["1933", "1998", " 1951", "3.5"])));
        assert!(!is_numeric(&item(&["1933", "1998", "1951", "医生"])));
        assert!(!is_numeric(&item(&["1933", "", "1951", "1946"])));
        assert!(!is_numeric(&item(&["NaN", "inf", "1951", "1946"])));
        assert!(!is_numeric(&item(&[])));
    }
}
