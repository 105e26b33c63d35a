//! `beyond world generate`: the synthetic world, written to a directory.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};

use beyond::world::{WorldSpec, language::LanguagePack};

#[derive(Debug, Subcommand)]
pub enum WorldCommand {
    /// Generate a world: corpora, base tokenizer, instruction data, benchmarks, held-out text,
    /// training recipes and world.json.
    Generate(GenerateArgs),
}

impl WorldCommand {
    pub fn json(&self) -> bool {
        match self {
            WorldCommand::Generate(a) => a.json,
        }
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Everything follows from the seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory (created; files in it are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Languages, the base language first: built-in codes (en, zh, and ar bn gu hi id ml mr ne sw ta te ur vi) or paths to language TOML
    /// files shaped like assets/world/zh.toml.
    #[arg(long, value_delimiter = ',', default_value = "en,zh")]
    languages: Vec<String>,
    /// Number of people (organisations, cities and countries scale with it).
    #[arg(long)]
    people: Option<usize>,
    /// Tokens of each target-language corpus, counted with the base tokenizer.
    #[arg(long = "tokens-zh", visible_alias = "target-tokens", value_name = "N")]
    target_tokens: Option<u64>,
    /// Documents about each entity in the base-language corpus.
    #[arg(long)]
    mentions: Option<usize>,
    /// The base tokenizer's vocabulary size.
    #[arg(long)]
    vocab_size: Option<usize>,
    /// Print world.json's summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(command: WorldCommand) -> anyhow::Result<()> {
    match command {
        WorldCommand::Generate(a) => generate(a),
    }
}

fn generate(a: GenerateArgs) -> anyhow::Result<()> {
    let mut spec = WorldSpec::new(a.seed)?;
    spec.languages = a
        .languages
        .iter()
        .map(|l| {
            if l.ends_with(".toml") {
                LanguagePack::open(std::path::Path::new(l))
            } else {
                LanguagePack::built_in(l)
            }
        })
        .collect::<beyond::Result<_>>()?;
    if let Some(n) = a.people {
        spec.people = n;
    }
    if let Some(n) = a.target_tokens {
        spec.target_tokens = n;
    }
    if let Some(n) = a.mentions {
        spec.mentions = n;
    }
    if let Some(n) = a.vocab_size {
        spec.vocab_size = n;
    }
    let start = Instant::now();
    let quiet = a.json;
    let world = beyond::study::make_world(spec, &a.out, &mut |stage| {
        if !quiet {
            eprintln!("{stage} ...");
        }
    })?;
    if a.json {
        return crate::cli::print_json(&world.summary);
    }
    let s = &world.summary;
    println!(
        "world {} (seed {}) in {:.1} s: {} files",
        a.out.display(),
        s.seed,
        start.elapsed().as_secs_f64(),
        world.files.len()
    );
    println!("  entities: {:?}", s.entities);
    println!(
        "  facts: {:?}, {} also in the instruction data",
        s.facts, s.instructed_facts
    );
    for (lang, c) in &s.corpora {
        println!(
            "  corpus/{lang}.txt: {} documents, {} tokens, {:.3} tokens per character",
            c.documents,
            c.tokens,
            c.tokens as f64 / c.characters.max(1) as f64
        );
    }
    println!(
        "  tokenizer: {} tokens ({} characters, {} merges)",
        s.tokenizer.vocab_size, s.tokenizer.characters, s.tokenizer.merges
    );
    for (lang, subjects) in &s.questions {
        println!("  questions ({lang}): {subjects:?}");
    }
    println!(
        "next: beyond train --config {}",
        a.out.join("recipes/base.toml").display()
    );
    Ok(())
}
