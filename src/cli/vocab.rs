//! `beyond vocab ...`: how a tokenizer treats each language.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use beyond::model::TextTokenizer;
use beyond::vocab::{Corpus, analyze};

#[derive(Debug, Subcommand)]
pub enum VocabCommand {
    /// Tokens per character, byte and word, byte-fallback and unknown shares, premium against a
    /// reference language, and the characters without a token of their own.
    Analyze(AnalyzeArgs),
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The tokenizer (tokenizer.json).
    #[arg(long, value_name = "FILE")]
    pub tokenizer: PathBuf,
    /// A language's text, one paragraph a line: `LANG=PATH` (repeat for more languages).
    #[arg(long = "corpus", value_name = "LANG=PATH", required = true)]
    pub corpora: Vec<String>,
    /// The language the premium is measured against (parallel text).
    #[arg(long)]
    pub reference: Option<String>,
    /// Print one JSON object keyed by language code.
    #[arg(long)]
    pub json: bool,
}

impl VocabCommand {
    pub fn json(&self) -> bool {
        match self {
            VocabCommand::Analyze(a) => a.json,
        }
    }
}

pub fn run(command: VocabCommand) -> anyhow::Result<()> {
    match command {
        VocabCommand::Analyze(a) => run_analyze(a),
    }
}

fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<()> {
    let tokenizer = TextTokenizer::open(&args.tokenizer, None, &[])?;
    let mut corpora = Vec::new();
    for spec in &args.corpora {
        let (lang, path) = spec
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--corpus {spec}: expected LANG=PATH"))?;
        let text = super::perplexity::read_text(std::path::Path::new(path))?;
        corpora.push(Corpus {
            lang: lang.to_string(),
            text,
        });
    }
    let stats = analyze(&tokenizer, &corpora, args.reference.as_deref())?;
    if args.json {
        return super::print_json(&stats);
    }
    println!(
        "{:<8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>9} {:>8}  missing characters",
        "lang", "tokens", "tok/char", "tok/byte", "tok/word", "bytefb%", "premium", "unk%"
    );
    for (lang, s) in &stats {
        let missing: String = s
            .missing_characters
            .iter()
            .take(12)
            .map(|(c, _)| c.as_str())
            .collect();
        println!(
            "{:<8} {:>8} {:>8.3} {:>9.3} {:>8} {:>8.1} {:>9} {:>8.2}  {}",
            lang,
            s.tokens,
            s.tokens_per_character,
            s.tokens_per_byte,
            s.tokens_per_word.map_or("-".into(), |v| format!("{v:.2}")),
            100.0 * s.byte_fallback_share,
            s.premium.map_or("-".into(), |v| format!("{v:.2}")),
            100.0 * s.unknown_share,
            missing
        );
    }
    Ok(())
}
