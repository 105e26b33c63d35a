//! `beyond vocab ...`: how a tokenizer treats each language.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use beyond::model::TextTokenizer;
use beyond::vocab::{Corpus, ResizeInit, analyze, extend, resize_checkpoint, sweep};

#[derive(Debug, Subcommand)]
pub enum VocabCommand {
    /// Tokens per character, byte and word, byte-fallback and unknown shares, premium against a
    /// reference language, and the characters without a token of their own.
    Analyze(AnalyzeArgs),
    /// Learn tokens from a target-language corpus and append them to a byte-fallback BPE
    /// tokenizer (old ids kept, merges appended).
    Extend(ExtendArgs),
    /// The analysis at several extension sizes (fertility against vocabulary size).
    Sweep(SweepArgs),
    /// Grow a model's embedding and head to an extended tokenizer's vocabulary.
    Resize(ResizeArgs),
}

#[derive(Debug, Args)]
pub struct ExtendArgs {
    /// The base tokenizer (tokenizer.json).
    #[arg(long, value_name = "FILE")]
    pub tokenizer: PathBuf,
    /// Target-language text, one document a line (repeatable).
    #[arg(long = "corpus", value_name = "PATH", required = true)]
    pub corpora: Vec<PathBuf>,
    /// How many tokens to add.
    #[arg(long)]
    pub add: usize,
    /// Do not learn characters or pairs seen fewer times than this.
    #[arg(long, default_value_t = 2)]
    pub min_frequency: u64,
    /// Where to write the extended tokenizer.json.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The base tokenizer (tokenizer.json).
    #[arg(long, value_name = "FILE")]
    pub tokenizer: PathBuf,
    /// Text the new tokens are learned from.
    #[arg(long, value_name = "PATH")]
    pub train_corpus: PathBuf,
    /// Extension sizes, comma-separated (0 is the base).
    #[arg(long, value_delimiter = ',', default_value = "0,1000,5000,20000")]
    pub sizes: Vec<usize>,
    #[arg(long, default_value_t = 2)]
    pub min_frequency: u64,
    #[command(flatten)]
    pub texts: Texts,
}

/// The languages a tokenizer is measured on.
#[derive(Debug, Args)]
pub struct Texts {
    /// A language's text, one paragraph a line: `LANG=PATH` (repeat for more languages).
    #[arg(long = "corpus", value_name = "LANG=PATH", required = true)]
    pub corpora: Vec<String>,
    /// The language premiums are measured against (parallel text).
    #[arg(long)]
    pub reference: Option<String>,
    /// Print one JSON object (analyze: keyed by language code).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResizeArgs {
    /// The HF model directory to grow (its tokenizer.json is the old vocabulary).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// The extended tokenizer: every old token at its old id, new tokens after.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: PathBuf,
    /// How new rows start.
    #[arg(long, value_enum, default_value_t = ResizeInit::SubwordMean)]
    pub init: ResizeInit,
    /// Seed of the `random` initialisation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the resized HF model directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The tokenizer (tokenizer.json).
    #[arg(long, value_name = "FILE")]
    pub tokenizer: PathBuf,
    #[command(flatten)]
    pub texts: Texts,
}

impl VocabCommand {
    pub fn json(&self) -> bool {
        match self {
            VocabCommand::Analyze(a) => a.texts.json,
            VocabCommand::Resize(a) => a.json,
            VocabCommand::Extend(a) => a.json,
            VocabCommand::Sweep(a) => a.texts.json,
        }
    }
}

pub fn run(command: VocabCommand) -> anyhow::Result<()> {
    match command {
        VocabCommand::Analyze(a) => run_analyze(a),
        VocabCommand::Resize(a) => run_resize(a),
        VocabCommand::Extend(a) => run_extend(a),
        VocabCommand::Sweep(a) => run_sweep(a),
    }
}

fn read_corpora(specs: &[String]) -> anyhow::Result<Vec<Corpus>> {
    Ok(specs
        .iter()
        .map(|s| Corpus::read(s))
        .collect::<beyond::Result<_>>()?)
}

fn run_sweep(args: SweepArgs) -> anyhow::Result<()> {
    let base = TextTokenizer::open(&args.tokenizer, None, &[])?;
    let train = beyond::tasks::read_utf8(&args.train_corpus)?;
    let corpora = read_corpora(&args.texts.corpora)?;
    let points = sweep(
        &base,
        &train,
        &args.sizes,
        args.min_frequency,
        &corpora,
        args.texts.reference.as_deref(),
    )?;
    if args.texts.json {
        return super::print_json(&points);
    }
    print!("{:>8} {:>8}", "added", "vocab");
    for c in &corpora {
        print!(" {:>12}", format!("{} tok/char", c.lang));
    }
    println!();
    for p in &points {
        print!("{:>8} {:>8}", p.added, p.vocab_size);
        for c in &corpora {
            print!(" {:>12.3}", p.languages[&c.lang].tokens_per_character);
        }
        println!();
    }
    Ok(())
}

fn run_extend(args: ExtendArgs) -> anyhow::Result<()> {
    let base = TextTokenizer::open(&args.tokenizer, None, &[])?;
    let mut corpus = String::new();
    for path in &args.corpora {
        corpus.push_str(&beyond::tasks::read_utf8(path)?);
        corpus.push('\n');
    }
    let extension = extend(&base, &corpus, args.add, args.min_frequency)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &extension.json)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.out.display()))?;
    if args.json {
        return super::print_json(&extension);
    }
    println!(
        "{} -> {} tokens ({} characters, {} merges); first: {}",
        extension.old_vocab,
        extension.new_vocab,
        extension.characters_added,
        extension.merges_added,
        extension.sample.join(" ")
    );
    println!("written to {}", args.out.display());
    Ok(())
}

fn run_resize(args: ResizeArgs) -> anyhow::Result<()> {
    let report = resize_checkpoint(
        &args.model,
        &args.tokenizer,
        args.init,
        args.seed,
        &args.out,
    )?;
    if args.json {
        return super::print_json(&report);
    }
    println!(
        "{} -> {} tokens ({:?}{}), written to {}",
        report.old_vocab,
        report.new_vocab,
        report.init,
        if report.tied_head { ", tied head" } else { "" },
        args.out.display()
    );
    Ok(())
}

fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<()> {
    let tokenizer = TextTokenizer::open(&args.tokenizer, None, &[])?;
    let corpora = read_corpora(&args.texts.corpora)?;
    let stats = analyze(&tokenizer, &corpora, args.texts.reference.as_deref())?;
    if args.texts.json {
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
