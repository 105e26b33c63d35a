//! `beyond eval quality`: answer quality on LLM-Eval's five aspects (judge model and people) and
//! signals that need no judge.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::answers::AnswerArgs;
use beyond::eval::codeswitch::{SwitchOptions, parse_language};
use beyond::eval::judge::{Judge, JudgeConfig, Secret, judge_answers};
use beyond::eval::quality::{
    QualityReport, ScoreSummary, read_ratings, reference_perplexities, report,
};
use beyond::jobs::Job;
use beyond::model::LoadedModel;

#[derive(Debug, Args)]
pub struct QualityArgs {
    #[command(flatten)]
    pub source: AnswerArgs,
    /// The language answers should be in.
    #[arg(long, default_value = "zh")]
    pub language: String,
    /// The judge's OpenAI-compatible API (`http://host:port/v1`).
    #[arg(long, env = "BEYOND_JUDGE_URL")]
    pub judge_url: Option<String>,
    /// The judge model's name at that API.
    #[arg(long, env = "BEYOND_JUDGE_MODEL", requires = "judge_url")]
    pub judge_model: Option<String>,
    /// Environment variable holding the judge's API key (never written anywhere).
    #[arg(long, default_value = "BEYOND_JUDGE_KEY")]
    pub judge_key_env: String,
    /// Seconds to wait for one judgement.
    #[arg(long, default_value_t = 120)]
    pub judge_timeout: u64,
    /// Times to ask again when the judge's reply holds no readable scores.
    #[arg(long, default_value_t = 2)]
    pub judge_attempts: usize,
    /// Judgements asked at once.
    #[arg(long, default_value_t = 4)]
    pub judge_parallel: usize,
    /// People's ratings (JSONL: id, rater, the five aspects 0-3, note).
    #[arg(long, value_name = "FILE")]
    pub ratings: Option<PathBuf>,
    /// A model whose perplexity on each answer is reported (fluency without a judge).
    #[arg(long, value_name = "DIR")]
    pub reference_model: Option<PathBuf>,
    /// Keep every answer's scores in the JSON.
    #[arg(long)]
    pub items: bool,
    #[command(flatten)]
    pub common: super::Common,
}

pub fn run(args: QualityArgs) -> anyhow::Result<()> {
    let target = SwitchOptions::new(parse_language(&args.language)?);
    let judge = match (&args.judge_url, &args.judge_model) {
        (Some(url), Some(model)) => Some(JudgeConfig {
            url: url.clone(),
            model: model.clone(),
            key: Secret::from_env(&args.judge_key_env),
            timeout: Duration::from_secs(args.judge_timeout.max(1)),
            attempts: args.judge_attempts,
        }),
        (Some(_), None) => anyhow::bail!("--judge-url needs --judge-model"),
        _ => None,
    };
    let ratings = match &args.ratings {
        Some(path) => read_ratings(path)?,
        None => Vec::new(),
    };
    let answers = args.source.answers(&args.common)?;
    let reference = args.reference_model.clone();
    let device = match &reference {
        Some(_) => Some(args.common.device()?.0),
        None => None,
    };
    let parallel = args.judge_parallel.max(1);
    let job = Job::spawn("quality", None, move |ctx| {
        let judged = match judge {
            Some(config) => judge_answers(&Judge::new(config), &answers, parallel, Some(ctx)),
            None => vec![None; answers.len()],
        };
        ctx.check_cancelled()?;
        let ppl = match (reference, device) {
            (Some(dir), Some(device)) => {
                let loaded = LoadedModel::open(&dir, &device)?;
                let tok = loaded.require_tokenizer()?;
                Some(reference_perplexities(
                    &loaded.model,
                    tok,
                    &answers,
                    Some(ctx),
                )?)
            }
            _ => None,
        };
        Ok(report(&answers, &target, &judged, &ratings, ppl.as_deref()))
    });
    let mut result: QualityReport = super::render::follow(job, args.common.json)?;
    if args.common.json {
        if !args.items {
            result.items.clear();
        }
        return super::print_json(&result);
    }
    print_report(&result);
    Ok(())
}

fn print_scores(who: &str, s: &ScoreSummary) {
    let aspects: Vec<String> = s
        .aspects
        .iter()
        .map(|(a, v)| format!("{a} {v:.2}"))
        .collect();
    println!(
        "{who} ({} answers): AVG {:.2} [{:.2}, {:.2}]  {}",
        s.scored,
        s.average.value,
        s.average.low,
        s.average.high,
        aspects.join("  ")
    );
}

fn print_report(r: &QualityReport) {
    println!(
        "{} answers: {:.0} characters on average, distinct-1 {:.3}, distinct-2 {:.3}, \
         {:.1}% of letters in {}",
        r.answers,
        r.mean_chars,
        r.mean_distinct_1,
        r.mean_distinct_2,
        100.0 * r.mean_target_share,
        r.target_language
    );
    if let Some(p) = r.mean_reference_perplexity {
        println!("perplexity under the reference model: {p:.2}");
    }
    if let Some(j) = &r.judge {
        print_scores("judge", j);
    }
    for (reason, n) in &r.judge_failures {
        println!("  no judge scores for {n} answers: {reason}");
    }
    if let Some(h) = &r.human {
        print_scores("people", h);
    }
    if !r.rater_agreement.is_empty() {
        let g: Vec<String> = r
            .rater_agreement
            .iter()
            .map(|a| {
                format!(
                    "{} {:.0}% same (±{:.2})",
                    a.aspect,
                    100.0 * a.exact,
                    a.mean_difference
                )
            })
            .collect();
        println!(
            "people agree ({} pairs of ratings): {}",
            r.rater_agreement[0].pairs,
            g.join("  ")
        );
    }
    if let Some(gap) = &r.judge_human_gap {
        let g: Vec<String> = gap.iter().map(|(a, v)| format!("{a} {v:.2}")).collect();
        println!(
            "judge vs people, mean absolute difference: {}",
            g.join("  ")
        );
    }
    if r.categories.len() > 1 {
        for c in &r.categories {
            let avg = |s: &Option<ScoreSummary>| {
                s.as_ref()
                    .map_or("-".to_string(), |s| format!("{:.2}", s.average.value))
            };
            println!(
                "  {:<24} {:>4} answers  judge AVG {}  people AVG {}",
                if c.name.is_empty() { "(none)" } else { &c.name },
                c.answers,
                avg(&c.judge),
                avg(&c.human)
            );
        }
    }
}
