//! `beyond lesson`: the first lesson (a micro world, a micro model trained in memory), the same
//! job the web page runs; its losses and gradient norms are what a browser's run is checked
//! against.

use std::path::PathBuf;

use clap::Args;

use beyond::jobs::Job;
use beyond::lesson::{self, LessonSpec, NEW_TOKENS};
use beyond::model::checkpoint::write_folder;

use super::{Common, print_json, render};

#[derive(Debug, Args)]
pub struct LessonArgs {
    /// Everything follows from the seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Optimisation steps.
    #[arg(long, default_value_t = LessonSpec::micro(0).steps)]
    steps: u64,
    /// Also save the trained model, with the world's tokenizer, as an HF checkpoint folder.
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
    /// Then put the world's English benchmark questions to the trained model.
    #[arg(long)]
    ask: bool,
    /// Then have the trained model continue this text (greedy decoding).
    #[arg(long, value_name = "TEXT")]
    prompt: Option<String>,
    /// Then measure the trained model's perplexity on the world's held-out documents (English,
    /// which it trained on, and Chinese, which it never saw).
    #[arg(long)]
    perplexity: bool,
    /// With --ask: at most this many questions per subject.
    #[arg(long, value_name = "N", requires = "ask")]
    questions: Option<usize>,
    #[command(flatten)]
    pub common: Common,
}

pub fn run(a: LessonArgs) -> anyhow::Result<()> {
    let (device, info) = a.common.device()?;
    let mut spec = LessonSpec::micro(a.seed);
    spec.steps = a.steps;
    let name = info.summary();
    let save = a.save.clone();
    let (ask, limit, prompt, measure) = (a.ask, a.questions, a.prompt.clone(), a.perplexity);
    let job = Job::spawn_async("lesson", None, move |ctx| async move {
        let lesson = lesson::run(spec, device, name, &ctx).await?;
        if let Some(dir) = &save {
            ctx.progress("saving the model", 0, None, "stages");
            write_folder(dir, &lesson.checkpoint_files().await?)?;
            ctx.message(format!("saved the model in {}", dir.display()));
        }
        let continuation = match &prompt {
            Some(p) => Some(lesson.continue_text(p, NEW_TOKENS).await?),
            None => None,
        };
        let benchmark = match ask {
            true => Some(lesson.ask(limit, &ctx).await?),
            false => None,
        };
        let perplexity = match measure {
            true => Some(lesson.perplexity(&ctx).await?),
            false => None,
        };
        Ok(Outcome {
            report: lesson.report,
            continuation,
            benchmark,
            perplexity,
        })
    });
    render::cancel_on_ctrl_c(&job);
    let outcome = render::follow(job, a.common.json)?;
    if a.common.json {
        return print_json(&outcome);
    }
    let report = &outcome.report;
    let first = report.losses.first().copied().unwrap_or(f64::NAN);
    let last = report.losses.last().copied().unwrap_or(f64::NAN);
    println!(
        "{} steps on {}: loss {first:.4} -> {last:.4}, {:.0} tokens/s ({} parameters, {}-token vocabulary, {:.1} s)",
        report.losses.len(),
        report.device,
        report.tokens_per_second,
        report.parameters,
        report.vocab_size,
        report.seconds
    );
    if let (Some(prompt), Some(generation)) = (&a.prompt, &outcome.continuation) {
        println!("{prompt}…{}", generation.text);
    }
    if let Some(benchmark) = &outcome.benchmark {
        for mode in &benchmark.modes {
            let correct = mode
                .items
                .iter()
                .filter(|i| i.predicted == i.answer)
                .count();
            println!(
                "the world's benchmark, {} scoring: {correct} of {} right ({:.0}%; chance {:.0}%)",
                mode.scoring.name(),
                mode.items.len(),
                100.0 * mode.accuracy.value,
                100.0 * mode.chance
            );
        }
    }
    for (lang, p) in outcome.perplexity.iter().flatten() {
        println!(
            "held-out {lang} documents: perplexity {:.2}, {:.3} bits per byte [{:.3}, {:.3}] ({} tokens)",
            p.perplexity,
            p.bits_per_byte,
            p.bits_per_byte_interval.low,
            p.bits_per_byte_interval.high,
            p.tokens
        );
    }
    Ok(())
}

/// What `beyond lesson` reports: the training, and what else was asked.
#[derive(serde::Serialize)]
struct Outcome {
    #[serde(flatten)]
    report: lesson::LessonReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    continuation: Option<beyond::model::Generation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    benchmark: Option<beyond::eval::mcq::McqReport>,
    /// Per language of the held-out documents.
    #[serde(skip_serializing_if = "Option::is_none")]
    perplexity:
        Option<std::collections::BTreeMap<String, beyond::eval::perplexity::PerplexityReport>>,
}
