//! `beyond eval codeswitch`: which answers leave the language they should be in, and where.

use clap::Args;
use serde::Serialize;

use super::answers::AnswerArgs;
use beyond::eval::codeswitch::{
    SwitchAnalysis, SwitchOptions, SwitchSummary, analyse, parse_language, summarise,
};

#[derive(Debug, Args)]
pub struct CodeSwitchArgs {
    #[command(flatten)]
    pub source: AnswerArgs,
    /// The language answers should be in (ISO 639-1 or 639-3 code).
    #[arg(long)]
    pub language: String,
    /// Fewest letters for a run in another alphabet to count (acronyms stay below).
    #[arg(long, default_value_t = 4)]
    pub min_letters: usize,
    /// Fewest characters for a run of ideographs, kana or Hangul to count.
    #[arg(long, default_value_t = 2)]
    pub min_ideographs: usize,
    #[command(flatten)]
    pub common: super::Common,
}

#[derive(Serialize)]
struct Row {
    id: String,
    response: String,
    #[serde(flatten)]
    analysis: SwitchAnalysis,
}

#[derive(Serialize)]
struct Output {
    summary: SwitchSummary,
    responses: Vec<Row>,
}

pub fn run(args: CodeSwitchArgs) -> anyhow::Result<()> {
    let expected = parse_language(&args.language)?;
    let options = SwitchOptions {
        min_letters: args.min_letters,
        min_ideographs: args.min_ideographs,
        ..SwitchOptions::new(expected)
    };
    let answers = args.source.answers(&args.common)?;
    let rows: Vec<Row> = answers
        .into_iter()
        .map(|a| Row {
            analysis: analyse(&a.response, &options),
            id: a.prompt.id,
            response: a.response,
        })
        .collect();
    let analyses: Vec<SwitchAnalysis> = rows.iter().map(|r| r.analysis.clone()).collect();
    let summary = summarise(&expected, &analyses);
    if args.common.json {
        return super::print_json(&Output {
            summary,
            responses: rows,
        });
    }
    for row in rows.iter().filter(|r| r.analysis.switched) {
        let places: Vec<String> = row
            .analysis
            .switches
            .iter()
            .map(|s| format!("{} at char {}: \"{}\"", s.language, s.char_start, s.text))
            .collect();
        println!("{:>6}  {}", row.id, places.join("; "));
    }
    println!(
        "{} of {} answers switch away from {} ({:.1}%; {} empty answers left out); \
         mean share of letters in {}: {:.1}%",
        summary.switched,
        summary.responses - summary.empty,
        expected.name(),
        100.0 * summary.rate,
        summary.empty,
        expected.name(),
        100.0 * summary.mean_expected_share
    );
    if !summary.into.is_empty() {
        let into: Vec<String> = summary
            .into
            .iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect();
        println!("switching into: {}", into.join(", "));
    }
    Ok(())
}
