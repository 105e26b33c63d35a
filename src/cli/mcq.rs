//! `beyond eval mcq`: knowledge by multiple choice; with two models, the change between them.

use std::path::PathBuf;

use clap::Args;

use beyond::eval::mcq::{self, Format, McqOptions, McqReport, PromptLanguage, Scoring};
use beyond::eval::retention::AccuracyChange;
use beyond::eval::stats::Interval;
use beyond::jobs::Job;
use beyond::tasks::{self, Knowledge};

#[derive(Debug, Args)]
pub struct McqArgs {
    /// HF model directory; give two (before, after) to see the change in accuracy.
    #[arg(long, value_name = "DIR", required = true, num_args = 1..=2)]
    model: Vec<PathBuf>,
    /// The benchmark's layout.
    #[arg(long, value_enum)]
    format: Format,
    /// The benchmark: directory or file (see `--format`).
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    /// World questions in this language.
    #[arg(long, default_value = "en")]
    language: String,
    /// Solved dev-split examples before each question.
    #[arg(long, default_value_t = 0)]
    shots: usize,
    /// How an option is chosen: letter, text, or both.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "letter,text")]
    scoring: Vec<Scoring>,
    /// The prompt's frame (default: the benchmark's usual language).
    #[arg(long, value_enum)]
    prompt_language: Option<PromptLanguage>,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// At most this many questions per subject.
    #[arg(long)]
    limit: Option<usize>,
    /// Keep every question's scores in the JSON.
    #[arg(long)]
    items: bool,
    #[command(flatten)]
    pub common: super::Common,
}

#[derive(serde::Serialize)]
struct Output {
    models: Vec<(PathBuf, McqReport)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<Vec<AccuracyChange>>,
}

pub fn run(args: McqArgs) -> anyhow::Result<()> {
    let (device, _) = args.common.device()?;
    let language = (args.format == Format::World).then(|| args.language.clone());
    let set = mcq::read(args.format, &args.data, language.as_deref())?;
    if !args.common.json {
        eprintln!(
            "{}: {} subjects, {} questions{}",
            args.format.name(),
            set.subjects.len(),
            set.questions(),
            match set.skipped {
                0 => String::new(),
                n => format!(" ({n} items that are not single-answer multiple choice left out)"),
            }
        );
    }
    let options = McqOptions {
        shots: args.shots,
        scoring: args.scoring.clone(),
        batch_size: args.batch_size,
        language: args.prompt_language,
        limit: args.limit,
        seed: 0,
    };
    let models = args.model.clone();
    let job = Job::spawn("mcq", None, move |ctx| {
        tasks::knowledge(&models, &set, &options, &device, ctx)
    });
    let Knowledge { reports, change } = super::render::follow(job, args.common.json)?;
    if args.common.json {
        let mut models: Vec<(PathBuf, McqReport)> =
            args.model.iter().cloned().zip(reports).collect();
        if !args.items {
            for (_, r) in &mut models {
                for m in &mut r.modes {
                    m.items.clear();
                }
            }
        }
        return super::print_json(&Output { models, change });
    }
    for (dir, r) in args.model.iter().zip(&reports) {
        println!(
            "{}  ({} questions, {}-shot, {} prompts, {:.1} questions/s{})",
            dir.display(),
            r.questions,
            r.shots,
            r.language,
            r.questions_per_second,
            match r.truncated {
                0 => String::new(),
                n => format!(", {n} prompts cut to fit"),
            }
        );
        for m in &r.modes {
            println!(
                "  {:?} scoring: accuracy {}  chance {:.1}%",
                m.scoring,
                percent(&m.accuracy),
                100.0 * m.chance
            );
            for s in &m.subjects {
                println!(
                    "    {:<32} {:>18}  {}/{}",
                    s.name,
                    percent(&s.accuracy),
                    s.correct,
                    s.questions
                );
            }
        }
    }
    if let Some(change) = change {
        println!("change (second model minus first, same questions):");
        for c in change {
            println!(
                "  {:?} scoring: {:+.1} points [{:+.1}, {:+.1}]",
                c.scoring,
                100.0 * c.overall.value,
                100.0 * c.overall.low,
                100.0 * c.overall.high
            );
            for (name, d) in c.subjects {
                println!(
                    "    {name:<32} {:+.1} [{:+.1}, {:+.1}]",
                    100.0 * d.value,
                    100.0 * d.low,
                    100.0 * d.high
                );
            }
        }
    }
    Ok(())
}

/// `61.4% [58.2, 64.6]`.
fn percent(i: &Interval) -> String {
    format!(
        "{:.1}% [{:.1}, {:.1}]",
        100.0 * i.value,
        100.0 * i.low,
        100.0 * i.high
    )
}
