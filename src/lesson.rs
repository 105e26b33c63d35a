//! The first lesson, small enough for a browser tab: generate a micro world, train a micro base
//! model on its English corpus step by step in memory, reporting the loss of every step, then
//! put the world's benchmark questions to it and measure its perplexity on held-out text.
//! It runs as an async job that yields after every step and reads values back without blocking,
//! so the same code serves the web page (where nothing may block) and the desktop.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::eval::mcq::{self, McqOptions, McqReport, McqSet, Scoring};
use crate::eval::perplexity::{PerplexityOptions, PerplexityReport, perplexity_async};
use crate::jobs::{Event, JobContext, yield_now};
use crate::model::checkpoint::{TOKENIZER_FILE, checkpoint_files_async};
use crate::model::generate::generate_async;
use crate::model::{Generation, Llama, LlamaConfig, SamplingConfig, SaveOptions, TextTokenizer};
use crate::train::live::{LiveTrainer, windows};
use crate::train::{AdamWConfig, OptimizerConfig};
use crate::world::{self, WorldSpec};

/// What the lesson makes and how long it trains.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LessonSpec {
    pub seed: u64,
    /// People in the world (at least 8).
    pub people: usize,
    /// The world tokenizer's vocabulary (specials and bytes included).
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub layers: usize,
    pub seq_len: usize,
    pub batch: usize,
    pub steps: u64,
    /// The peak learning rate, reached linearly over the first `warmup_steps`.
    pub learning_rate: f64,
    pub warmup_steps: u64,
}

impl LessonSpec {
    /// A few seconds on a laptop's CPU, a minute or two on a software GPU.
    pub fn micro(seed: u64) -> Self {
        Self {
            seed,
            people: 8,
            vocab_size: 320,
            hidden_size: 32,
            layers: 2,
            seq_len: 32,
            batch: 4,
            steps: 40,
            learning_rate: 1e-2,
            warmup_steps: 5,
        }
    }

    /// The model's shape for a tokenizer of `vocab_size` tokens.
    pub fn model_shape(&self, vocab_size: usize) -> LlamaConfig {
        let h = self.hidden_size;
        let mut c = LlamaConfig::new(vocab_size, h, 2 * h, self.layers, 2, 1);
        // Training reads seq_len-token windows; the benchmark's prompts (question and options)
        // are longer, and are cut when they do not fit.
        c.max_position_embeddings = self.seq_len.max(256);
        c
    }
}

/// How the lesson went.
#[derive(Debug, Clone, Serialize)]
pub struct LessonReport {
    pub spec: LessonSpec,
    /// The device the model trained on, for people.
    pub device: String,
    pub vocab_size: usize,
    pub parameters: usize,
    /// Tokens of the English corpus under the world's tokenizer.
    pub corpus_tokens: usize,
    /// The loss before each update, by step.
    pub losses: Vec<f64>,
    /// The gradient norm of each step.
    pub grad_norms: Vec<f64>,
    pub seconds: f64,
    pub tokens_per_second: f64,
}

/// The lesson's outcome: how it went, and the model it trained with the world's tokenizer.
#[derive(Clone)]
pub struct Lesson {
    pub report: LessonReport,
    /// The model after the last step, on the device it trained on.
    pub model: Llama,
    /// The world tokenizer's `tokenizer.json`.
    pub tokenizer_json: Vec<u8>,
    /// The world's benchmark, `bench/questions.jsonl`.
    pub questions_jsonl: Vec<u8>,
    /// The first words of the world's first English document: a prompt to continue.
    pub prompt_example: String,
    /// The world's held-out documents, per language (`en`, `zh`): text the model never trained on.
    pub heldout: Vec<(String, String)>,
}

/// Tokens the trained model adds to a prompt it continues.
pub const NEW_TOKENS: usize = 24;

/// Where the lesson's questions come from, in messages.
const QUESTIONS_FILE: &str = "bench/questions.jsonl";

impl Lesson {
    /// The trained model as the files of an HF checkpoint folder (config, weights, generation
    /// config, tokenizer), read back from the device without blocking.
    pub async fn checkpoint_files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut files = checkpoint_files_async(&self.model, None, &SaveOptions::default()).await?;
        files.push((TOKENIZER_FILE.to_string(), self.tokenizer_json.clone()));
        Ok(files)
    }

    /// The world's tokenizer.
    pub fn tokenizer(&self) -> Result<TextTokenizer> {
        TextTokenizer::from_bytes(
            &self.tokenizer_json,
            std::path::Path::new(TOKENIZER_FILE),
            None,
            None,
            &[],
        )
    }

    /// The trained model's greedy continuation of `prompt` (at most `max_new_tokens` tokens),
    /// each token read back without blocking.
    pub async fn continue_text(&self, prompt: &str, max_new_tokens: usize) -> Result<Generation> {
        let tokenizer = self.tokenizer()?;
        let ids = tokenizer.encode_with_bos(prompt)?;
        generate_async(
            &self.model,
            Some(&tokenizer),
            &ids,
            &SamplingConfig::greedy(max_new_tokens),
            &tokenizer.eos_ids,
            |_| std::ops::ControlFlow::Continue(()),
        )
        .await
    }

    /// The trained model's perplexity on the world's held-out documents, per language: English,
    /// which it trained on (other documents), and the world's other language, which it never
    /// saw. Losses are read back without blocking.
    pub async fn perplexity(&self, ctx: &JobContext) -> Result<BTreeMap<String, PerplexityReport>> {
        let tokenizer = self.tokenizer()?;
        let mut out = BTreeMap::new();
        for (lang, text) in &self.heldout {
            ctx.message(format!("perplexity on the held-out {lang} documents"));
            // Two documents a pass: short turns for a page's one thread on the CPU backend.
            let options = PerplexityOptions {
                batch_size: 2,
                ..PerplexityOptions::default()
            };
            let report =
                perplexity_async(&self.model, &tokenizer, text, &options, Some(ctx)).await?;
            out.insert(lang.clone(), report);
        }
        Ok(out)
    }

    /// The world's English questions.
    pub fn questions(&self) -> Result<McqSet> {
        let text = String::from_utf8_lossy(&self.questions_jsonl);
        mcq::read::world_questions(&text, std::path::Path::new(QUESTIONS_FILE), "en")
    }

    /// Puts the world's English questions to the trained model (at most `limit` per subject),
    /// scored both ways: the likeliest answer letter, and the likeliest option text. Scores are
    /// read back without blocking, so a web page keeps drawing.
    pub async fn ask(&self, limit: Option<usize>, ctx: &JobContext) -> Result<McqReport> {
        let tokenizer = self.tokenizer()?;
        let set = self.questions()?;
        let options = McqOptions {
            shots: 0,
            scoring: vec![Scoring::Letter, Scoring::Text],
            batch_size: 16,
            limit,
            seed: self.report.spec.seed,
            ..McqOptions::default()
        };
        ctx.message(format!(
            "asking the model {} questions",
            set.subjects
                .iter()
                .map(|s| s.eval.len().min(limit.unwrap_or(usize::MAX)))
                .sum::<usize>()
        ));
        mcq::evaluate_async(&self.model, &tokenizer, &set, &options, Some(ctx)).await
    }
}

/// Runs the lesson on `device` (`device_name` says which, for the report).
pub async fn run(
    spec: LessonSpec,
    device: Device,
    device_name: String,
    ctx: &JobContext,
) -> Result<Lesson> {
    let started = web_time::Instant::now();
    ctx.progress("generating the world", 0, None, "stages");
    yield_now().await;
    let mut world_spec = WorldSpec::new(spec.seed)?;
    world_spec.people = spec.people;
    world_spec.mentions = 4;
    world_spec.target_tokens = 2_000;
    world_spec.vocab_size = spec.vocab_size;
    world_spec.heldout_documents = 10;
    world_spec.dev_questions = 1;
    let world = world::generate(world_spec, &mut |stage| {
        ctx.progress(stage, 0, None, "stages");
    })?;
    ctx.check_cancelled()?;
    yield_now().await;

    let file = |name: &str| {
        world
            .files
            .get(name)
            .ok_or_else(|| Error::Internal(format!("the world has no {name}")))
    };
    let tokenizer_json = file("tokenizer/tokenizer.json")?.clone();
    let questions_jsonl = file(QUESTIONS_FILE)?.clone();
    let tokenizer = TextTokenizer::from_bytes(
        &tokenizer_json,
        std::path::Path::new("tokenizer/tokenizer.json"),
        None,
        None,
        &[],
    )?;
    let corpus = String::from_utf8_lossy(file("corpus/en.txt")?).into_owned();
    let heldout: Vec<(String, String)> = world
        .files
        .iter()
        .filter_map(|(name, bytes)| {
            let lang = name.strip_prefix("heldout/")?.strip_suffix(".txt")?;
            Some((
                lang.to_string(),
                String::from_utf8_lossy(bytes).into_owned(),
            ))
        })
        .collect();
    let prompt_example = corpus
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().take(4).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let mut tokens = Vec::new();
    for document in corpus.lines().filter(|l| !l.trim().is_empty()) {
        tokens.extend(tokenizer.encode_with_bos(document)?);
        tokens.extend(tokenizer.eos_ids.first().copied());
    }
    let batches = windows(&tokens, spec.batch, spec.seq_len);
    if batches.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the world's English corpus ({} tokens) is shorter than one batch",
            tokens.len()
        )));
    }
    ctx.message(format!(
        "world: {} people, {} English tokens under a {}-token vocabulary",
        spec.people,
        tokens.len(),
        tokenizer.vocab_size()
    ));

    let mut shape = spec.model_shape(tokenizer.vocab_size());
    shape.bos_token_id = tokenizer.bos_id;
    shape.eos_token_ids = tokenizer.eos_ids.clone();
    let parameters = shape.num_params();
    // Weights drawn on the CPU and moved: the same start on every device, so a browser's run
    // can be checked against the desktop's.
    let cpu = Device::flex();
    cpu.seed(spec.seed);
    let model = Llama::init(&shape, 0.02, &cpu).to_device(&device);
    let mut trainer = LiveTrainer::new(model, OptimizerConfig::AdamW(AdamWConfig::default()));
    ctx.message(format!("training {parameters} parameters on {device_name}"));

    let training = web_time::Instant::now();
    let (mut losses, mut grad_norms) = (Vec::new(), Vec::new());
    for step in 1..=spec.steps {
        ctx.check_cancelled()?;
        let batch = &batches[(step as usize - 1) % batches.len()];
        let warmup = (step as f64 / spec.warmup_steps.max(1) as f64).min(1.0);
        let values = trainer.step(batch, spec.learning_rate * warmup).await?;
        let (loss, norm) = (values.loss, values.grad_norm);
        losses.push(loss);
        grad_norms.push(norm);
        ctx.emit(Event::Metric {
            name: "loss".into(),
            step,
            value: loss,
        });
        ctx.emit(Event::Metric {
            name: "grad_norm".into(),
            step,
            value: norm,
        });
        ctx.progress("training", step, Some(spec.steps), "steps");
        yield_now().await;
    }
    let trained = training.elapsed().as_secs_f64();
    let tokens_trained = spec.steps as f64 * (spec.batch * spec.seq_len) as f64;
    let report = LessonReport {
        device: device_name,
        vocab_size: tokenizer.vocab_size(),
        parameters,
        corpus_tokens: tokens.len(),
        losses,
        grad_norms,
        seconds: started.elapsed().as_secs_f64(),
        tokens_per_second: tokens_trained / trained.max(1e-9),
        spec,
    };
    Ok(Lesson {
        report,
        model: trainer.model(),
        tokenizer_json,
        questions_jsonl,
        prompt_example,
        heldout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Job;

    #[test]
    fn the_micro_lesson_trains_and_the_loss_falls() {
        let job = Job::spawn_async("lesson", None, |ctx| async move {
            let lesson = run(LessonSpec::micro(0), Device::flex(), "cpu".into(), &ctx).await?;
            let asked = lesson.ask(None, &ctx).await?;
            Ok((lesson, asked))
        });
        let events: Vec<Event> = job.events.iter().collect();
        let (lesson, asked) = job.wait().unwrap();
        assert!(!lesson.prompt_example.is_empty());
        held_out_perplexity(&lesson);
        let report = &lesson.report;
        assert_eq!(report.losses.len(), 40);
        let losses: Vec<f64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Metric { name, value, .. } if name == "loss" => Some(*value),
                _ => None,
            })
            .collect();
        assert_eq!(losses, report.losses, "every step's loss is reported");
        let first = report.losses[0];
        let last = report.losses[report.losses.len() - 1];
        // A fresh model predicts close to uniformly: ln(vocabulary).
        assert!(
            (first - (report.vocab_size as f64).ln()).abs() < 0.3,
            "{first}"
        );
        assert!(last < first - 1.0, "loss {first} -> {last}");

        // The trained model, saved as an HF folder, loads back as the same model.
        let files = futures_lite::future::block_on(lesson.checkpoint_files()).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "config.json",
                "generation_config.json",
                "model.safetensors",
                "tokenizer.json"
            ]
        );
        let file = |name: &str| {
            files
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, b)| b.clone())
        };
        let checkpoint = crate::model::Checkpoint::from_bytes(
            std::path::Path::new("lesson"),
            &file("config.json").unwrap(),
            vec![(
                std::path::PathBuf::from("lesson/model.safetensors"),
                file("model.safetensors").unwrap(),
            )],
        )
        .unwrap();
        let (loaded, _) = checkpoint.load(&Device::flex()).unwrap();
        let ids = Tensor::<2, Int>::from_data(
            TensorData::new(vec![1i64, 5, 9, 2], [1, 4]),
            &Device::flex(),
        );
        let want = lesson
            .model
            .forward(ids.clone(), Default::default())
            .into_data();
        let got = loaded.forward(ids, Default::default()).into_data();
        want.assert_approx_eq::<f32>(&got, burn::tensor::Tolerance::absolute(1e-5));

        // A continuation read back token by token is the blocking generator's.
        let tokenizer = lesson.tokenizer().unwrap();
        let continued =
            futures_lite::future::block_on(lesson.continue_text(&lesson.prompt_example, 12))
                .unwrap();
        let ids = tokenizer.encode_with_bos(&lesson.prompt_example).unwrap();
        let blocking = crate::model::generate(
            &lesson.model,
            Some(&tokenizer),
            &ids,
            &SamplingConfig::greedy(12),
            &tokenizer.eos_ids,
            |_| std::ops::ControlFlow::Continue(()),
        )
        .unwrap();
        assert_eq!(continued.ids, blocking.ids);
        assert_eq!(continued.text, blocking.text);
        assert!(continued.ids.len() > ids.len());

        // The benchmark: every English question of the world's file, whole (the model's context
        // holds the longest prompt), scored both ways as the blocking scorer scores them.
        let english = String::from_utf8_lossy(&lesson.questions_jsonl)
            .lines()
            .filter(|l| l.contains("\"language\":\"en\"") && !l.contains("\"part\":\"dev\""))
            .count();
        assert!(english >= 40, "{english} English questions");
        assert_eq!(asked.questions, english);
        assert_eq!(asked.truncated, 0, "prompts cut to fit the context");
        let options = McqOptions {
            batch_size: 3,
            ..McqOptions::default()
        };
        let blocking = mcq::evaluate(
            &lesson.model,
            &tokenizer,
            &lesson.questions().unwrap(),
            &options,
            None,
        )
        .unwrap();
        assert_eq!(asked.modes.len(), 2);
        for (a, b) in asked.modes.iter().zip(&blocking.modes) {
            assert_eq!(a.scoring, b.scoring);
            assert_eq!(a.items.len(), english);
            for (x, y) in a.items.iter().zip(&b.items) {
                assert_eq!((&x.id, x.answer), (&y.id, y.answer));
                for (p, q) in x.scores.iter().zip(&y.scores) {
                    assert!(p.is_finite() && (p - q).abs() < 1e-4, "{p} vs {q}");
                }
                let best = (0..x.scores.len())
                    .max_by(|&i, &j| x.scores[i].total_cmp(&x.scores[j]))
                    .unwrap();
                assert_eq!(x.scores[x.predicted], x.scores[best]);
            }
        }
    }

    /// The trained model's perplexity on held-out text, read back without blocking, is the
    /// blocking scorer's; on English, which it trained on, it is well below a fresh model's
    /// (ln of the vocabulary's size per token), and below the language it never saw.
    fn held_out_perplexity(lesson: &Lesson) {
        let langs: Vec<&str> = lesson.heldout.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(langs, ["en", "zh"]);
        let job = Job::spawn_async("perplexity", None, {
            let lesson = lesson.clone();
            |ctx| async move { lesson.perplexity(&ctx).await }
        });
        let measured = job.wait().unwrap();
        let tokenizer = lesson.tokenizer().unwrap();
        for (lang, text) in &lesson.heldout {
            let options = PerplexityOptions {
                batch_size: 3,
                ..PerplexityOptions::default()
            };
            let blocking = crate::eval::perplexity::perplexity(
                &lesson.model,
                &tokenizer,
                text,
                &options,
                None,
            )
            .unwrap();
            let ours = &measured[lang];
            assert_eq!((ours.tokens, ours.bytes), (blocking.tokens, blocking.bytes));
            assert!(
                (ours.nll_per_token - blocking.nll_per_token).abs() < 1e-4,
                "{lang}: {} vs {}",
                ours.nll_per_token,
                blocking.nll_per_token
            );
        }
        let uniform = (lesson.report.vocab_size as f64).ln();
        assert!(
            measured["en"].nll_per_token < uniform - 0.5,
            "{:?}",
            measured["en"]
        );
        assert!(measured["en"].bits_per_byte < measured["zh"].bits_per_byte);
    }
}
