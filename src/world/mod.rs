//! A synthetic multilingual world: the embedded default that lets every question of the study
//! be asked offline in minutes. A seed makes people, organisations, cities and countries with
//! facts about them; the facts are told in an English corpus (the base model's knowledge), some
//! of them in a target-language corpus (further pretraining), some in instruction data, and
//! asked about in four-option benchmarks in the real C-Eval and MMLU layouts, tagged by which
//! corpora told them. Everything follows from the seed: the same bytes on every platform.

pub mod bench;
pub mod facts;
pub mod language;
pub mod text;

use std::collections::BTreeMap;

use serde::Serialize;

use self::bench::{Layout, Question};
use self::facts::{Entity, EntityKind, Fact, Split, SplitShares, WordKind};
use self::language::{GlossaryItem, LanguagePack, fill};
use self::text::Writer;
use crate::error::{Error, Result};
use crate::model::TextTokenizer;
use crate::rng::SeededRng;
use crate::vocab;

/// What to make.
#[derive(Debug, Clone, Serialize)]
pub struct WorldSpec {
    pub seed: u64,
    /// The base language first (English), then the target languages.
    #[serde(skip)]
    pub languages: Vec<LanguagePack>,
    pub people: usize,
    /// Documents about each entity in the base-language corpus.
    pub mentions: usize,
    /// Tokens (under the base tokenizer, EOS counted) of each target-language corpus.
    pub target_tokens: u64,
    /// The base tokenizer's vocabulary size.
    pub vocab_size: usize,
    pub shares: SplitShares,
    /// Documents in each held-out text.
    pub heldout_documents: usize,
    /// Questions per subject set aside as few-shot examples.
    pub dev_questions: usize,
}

impl WorldSpec {
    /// The defaults: English and Chinese, 120 people.
    pub fn new(seed: u64) -> Result<Self> {
        Ok(Self {
            seed,
            languages: vec![LanguagePack::built_in("en")?, LanguagePack::built_in("zh")?],
            people: 120,
            mentions: 8,
            target_tokens: 60_000,
            vocab_size: 1024,
            shares: SplitShares {
                both_languages: 40,
                never_seen: 20,
                instructed: 50,
            },
            heldout_documents: 100,
            dev_questions: 5,
        })
    }
}

/// Random streams, one per purpose.
mod stream {
    pub const ENTITIES: u64 = 1;
    pub const FACTS: u64 = 2;
    pub const BASE_CORPUS: u64 = 3;
    pub const TARGET_CORPUS: u64 = 4;
    pub const INSTRUCTIONS: u64 = 5;
    pub const BENCHMARKS: u64 = 6;
    pub const HELDOUT: u64 = 7;
}

/// A generated world: its contents and the files that describe it.
pub struct World {
    pub spec: WorldSpec,
    pub entities: Vec<Entity>,
    pub facts: Vec<Fact>,
    pub questions: Vec<Question>,
    /// Relative path to bytes, in path order.
    pub files: BTreeMap<String, Vec<u8>>,
    pub summary: Summary,
}

/// What `world.json` says besides the facts.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub seed: u64,
    pub languages: Vec<String>,
    pub entities: BTreeMap<String, usize>,
    pub facts: BTreeMap<String, usize>,
    pub instructed_facts: usize,
    /// Per corpus: documents and tokens under the base tokenizer (EOS counted).
    pub corpora: BTreeMap<String, CorpusSize>,
    pub instructions: BTreeMap<String, usize>,
    /// Per language and subject: evaluated questions (few-shot ones apart).
    pub questions: BTreeMap<String, BTreeMap<String, usize>>,
    pub tokenizer: vocab::Trained,
}

#[derive(Debug, Clone, Serialize)]
pub struct CorpusSize {
    pub documents: usize,
    pub tokens: u64,
    pub characters: u64,
}

/// Progress reports: a stage name.
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// Generates the world `spec` describes.
pub fn generate(spec: WorldSpec, progress: Progress) -> Result<World> {
    let langs = &spec.languages;
    let Some(base) = langs.first() else {
        return Err(Error::InvalidInput(
            "the world needs at least one language".into(),
        ));
    };
    if base.names.open.is_empty() || base.names.closed.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the first language (`{}`) must list the name syllables ([names] open and closed)",
            base.language
        )));
    }
    for (i, l) in langs.iter().enumerate() {
        l.check_against(base)?;
        if langs[..i].iter().any(|o| o.language == l.language) {
            return Err(Error::InvalidInput(format!(
                "language `{}` given twice",
                l.language
            )));
        }
    }
    if spec.people < 8 {
        return Err(Error::InvalidInput(
            "a world needs at least 8 people".into(),
        ));
    }
    let words_of = |kind: WordKind| -> Vec<String> {
        base.lexicon
            .get(kind.key())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    progress("entities and facts");
    let suffixes = words_of(WordKind::OrgSuffix);
    let entities = facts::make_entities(
        &mut SeededRng::new(spec.seed, stream::ENTITIES),
        spec.people,
        langs,
        &suffixes,
    );
    let facts = facts::make_facts(
        &mut SeededRng::new(spec.seed, stream::FACTS),
        &entities,
        &words_of,
        spec.shares,
    );
    let writers: Vec<Writer> = langs
        .iter()
        .map(|lang| Writer {
            lang,
            entities: &entities,
        })
        .collect();
    let by_subject = |splits: &[Split]| -> Vec<Vec<&Fact>> {
        let mut out = vec![Vec::new(); entities.len()];
        for f in &facts {
            if splits.contains(&f.split) {
                out[f.subject].push(f);
            }
        }
        out
    };
    let mut files = BTreeMap::new();
    let mut corpora = BTreeMap::new();

    progress("base-language corpus");
    let told_in_base = by_subject(&[Split::EnglishOnly, Split::BothLanguages]);
    let base_docs = base_corpus(&spec, &writers, &told_in_base)?;
    let base_text = lines(&base_docs);

    progress("base tokenizer");
    let trained = vocab::train(&base_text, spec.vocab_size, 2)?;
    let tokenizer = TextTokenizer::from_bytes(
        trained.json.as_bytes(),
        std::path::Path::new("tokenizer/tokenizer.json"),
        None,
        None,
        &[],
    )?;
    let count = |docs: &[String]| -> Result<u64> {
        let ids = tokenizer.encode_batch(docs.to_vec())?;
        Ok(ids.iter().map(|d| d.len() as u64 + 1).sum())
    };
    corpora.insert(
        base.language.clone(),
        CorpusSize {
            documents: base_docs.len(),
            tokens: count(&base_docs)?,
            characters: base_text.chars().count() as u64,
        },
    );
    files.insert(
        format!("corpus/{}.txt", base.language),
        base_text.into_bytes(),
    );
    files.insert(
        "tokenizer/tokenizer.json".into(),
        trained.json.clone().into_bytes(),
    );

    let told_in_both = by_subject(&[Split::BothLanguages]);
    for (k, w) in writers.iter().enumerate().skip(1) {
        progress(&format!("{} corpus", w.lang.name));
        let mut rng = SeededRng::new(spec.seed, stream::TARGET_CORPUS + 100 * k as u64);
        let docs = target_corpus(&mut rng, w, &told_in_both, spec.target_tokens, &tokenizer)?;
        let text = lines(&docs);
        corpora.insert(
            w.lang.language.clone(),
            CorpusSize {
                documents: docs.len(),
                tokens: count(&docs)?,
                characters: text.chars().count() as u64,
            },
        );
        files.insert(format!("corpus/{}.txt", w.lang.language), text.into_bytes());
    }

    progress("instructions");
    let mut instructions = BTreeMap::new();
    for (k, w) in writers.iter().enumerate() {
        let mut rng = SeededRng::new(spec.seed, stream::INSTRUCTIONS + 100 * k as u64);
        let mut rows = Vec::new();
        for f in facts.iter().filter(|f| f.instructed) {
            let forms = w.lang.relations[f.relation.key()].statements.len();
            let row = serde_json::json!({
                "instruction": w.question(f),
                "input": "",
                "output": w.statement(f, rng.below(forms))?,
            });
            rows.push(row.to_string());
        }
        rng.shuffle(&mut rows);
        instructions.insert(w.lang.language.clone(), rows.len());
        files.insert(
            format!("instruct/{}.jsonl", w.lang.language),
            lines(&rows).into_bytes(),
        );
    }

    progress("benchmarks");
    let questions = benchmarks(&spec, &entities, &facts, &writers, &words_of)?;
    let mut counted: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for w in &writers {
        let layout = Layout::for_language(w.lang, base);
        for part in ["dev", layout.eval_part()] {
            for split in Split::ALL {
                let qs: Vec<&Question> = questions
                    .iter()
                    .filter(|q| q.language == w.lang.language && q.split == split && q.part == part)
                    .collect();
                if part != "dev" {
                    counted
                        .entry(w.lang.language.clone())
                        .or_default()
                        .insert(split.key().into(), qs.len());
                }
                files.insert(
                    format!(
                        "bench/{}/{}/{part}/{}_{part}.csv",
                        w.lang.language,
                        layout.name(),
                        split.key()
                    ),
                    layout.csv(&qs)?,
                );
            }
        }
    }
    let jsonl: Vec<String> = questions
        .iter()
        .map(|q| serde_json::to_string(q).unwrap_or_default())
        .collect();
    files.insert("bench/questions.jsonl".into(), lines(&jsonl).into_bytes());

    progress("held-out text");
    for (k, w) in writers.iter().enumerate() {
        let mut rng = SeededRng::new(spec.seed, stream::HELDOUT + 100 * k as u64);
        let told = if k == 0 { &told_in_base } else { &told_in_both };
        let subjects: Vec<usize> = (0..entities.len())
            .filter(|&i| !told[i].is_empty())
            .collect();
        let mut docs = Vec::with_capacity(spec.heldout_documents);
        for _ in 0..spec.heldout_documents {
            let s = *rng.pick(&subjects);
            docs.push(w.document(&mut rng, &told[s])?);
        }
        files.insert(
            format!("heldout/{}.txt", w.lang.language),
            lines(&docs).into_bytes(),
        );
    }

    let mut entity_counts = BTreeMap::new();
    for e in &entities {
        *entity_counts
            .entry(format!("{:?}", e.kind).to_lowercase())
            .or_default() += 1;
    }
    let mut fact_counts = BTreeMap::new();
    for f in &facts {
        *fact_counts.entry(f.split.key().to_string()).or_default() += 1;
    }
    let summary = Summary {
        seed: spec.seed,
        languages: langs.iter().map(|l| l.language.clone()).collect(),
        entities: entity_counts,
        facts: fact_counts,
        instructed_facts: facts.iter().filter(|f| f.instructed).count(),
        corpora,
        instructions,
        questions: counted,
        tokenizer: trained,
    };
    let world_json = describe(&spec, &summary, &entities, &facts, &writers)?;
    files.insert("world.json".into(), world_json.into_bytes());
    Ok(World {
        spec,
        entities,
        facts,
        questions,
        files,
        summary,
    })
}

/// Documents, one a line, each line ending in a newline.
fn lines(docs: &[String]) -> String {
    let mut out = String::with_capacity(docs.iter().map(|d| d.len() + 1).sum());
    for d in docs {
        out.push_str(d);
        out.push('\n');
    }
    out
}

/// The base-language corpus: `mentions` documents about each entity, telling all its facts but
/// the never-seen ones, and a little of the other languages, as real English text holds: each
/// entity's name as the other language writes it, once, and glossary lines teaching words. This
/// gives a tokenizer trained on it most of their characters, but no words, as LLaMA's had.
fn base_corpus(spec: &WorldSpec, writers: &[Writer], told: &[Vec<&Fact>]) -> Result<Vec<String>> {
    let mut rng = SeededRng::new(spec.seed, stream::BASE_CORPUS);
    let base = &writers[0];
    let mut docs = Vec::new();
    for facts in told.iter().filter(|f| !f.is_empty()) {
        for _ in 0..spec.mentions {
            docs.push(base.document(&mut rng, facts)?);
        }
    }
    let templates: Vec<&String> = base
        .lang
        .prose
        .glossary
        .iter()
        .filter_map(|g| match g {
            GlossaryItem::Template(t) => Some(t),
            GlossaryItem::Pair(..) => None,
        })
        .collect();
    for other in &writers[1..] {
        if base.lang.prose.names.is_empty() {
            break;
        }
        for e in base.entities {
            let template = rng.pick(&base.lang.prose.names).as_str();
            docs.push(fill(
                template,
                &[
                    ("{name}", e.render(base.lang).as_str()),
                    ("{native}", e.render(other.lang).as_str()),
                    ("{language}", other.lang.name.as_str()),
                ],
            ));
        }
    }
    for other in &writers[1..] {
        let pairs: Vec<(&String, &String)> = other
            .lang
            .prose
            .glossary
            .iter()
            .filter_map(|g| match g {
                GlossaryItem::Pair(a, b) => Some((a, b)),
                GlossaryItem::Template(_) => None,
            })
            .collect();
        // Each word taught three times, three words a line.
        let mut taught: Vec<String> = Vec::new();
        if !templates.is_empty() {
            for _ in 0..3 {
                for (word, native) in &pairs {
                    let template: &str = rng.pick(&templates).as_str();
                    taught.push(fill(
                        template,
                        &[
                            ("{word}", word.as_str()),
                            ("{native}", native.as_str()),
                            ("{language}", other.lang.name.as_str()),
                        ],
                    ));
                }
            }
        }
        // Each filler sentence translated twice.
        if !base.lang.prose.translations.is_empty() {
            for _ in 0..2 {
                for (sentence, native) in
                    base.lang.prose.filler.iter().zip(&other.lang.prose.filler)
                {
                    let template: &str = rng.pick(&base.lang.prose.translations).as_str();
                    taught.push(fill(
                        template,
                        &[
                            ("{sentence}", sentence.as_str()),
                            ("{native}", native.as_str()),
                            ("{language}", other.lang.name.as_str()),
                        ],
                    ));
                }
            }
        }
        rng.shuffle(&mut taught);
        for chunk in taught.chunks(3) {
            docs.push(base.lang.join(chunk));
        }
    }
    rng.shuffle(&mut docs);
    Ok(docs)
}

/// A target-language corpus of `budget` tokens: documents about entities that have facts told
/// in both languages, each telling only those, entities taken in a shuffled round.
fn target_corpus(
    rng: &mut SeededRng,
    w: &Writer,
    told: &[Vec<&Fact>],
    budget: u64,
    tokenizer: &TextTokenizer,
) -> Result<Vec<String>> {
    let subjects: Vec<usize> = (0..told.len()).filter(|&i| !told[i].is_empty()).collect();
    if subjects.is_empty() {
        return Err(Error::InvalidInput(
            "no fact is told in both languages: raise the both-languages share".into(),
        ));
    }
    let mut docs = Vec::new();
    let mut tokens = 0u64;
    let mut order = subjects.clone();
    while tokens < budget {
        rng.shuffle(&mut order);
        for &s in &order {
            let doc = w.document(rng, &told[s])?;
            tokens += tokenizer.encode(&doc, false)?.len() as u64 + 1;
            docs.push(doc);
            if tokens >= budget {
                break;
            }
        }
    }
    Ok(docs)
}

/// Every fact's question in every language, a few per subject set aside for few-shot prompts.
fn benchmarks(
    spec: &WorldSpec,
    entities: &[Entity],
    facts: &[Fact],
    writers: &[Writer],
    words_of: &dyn Fn(WordKind) -> Vec<String>,
) -> Result<Vec<Question>> {
    let mut rng = SeededRng::new(spec.seed, stream::BENCHMARKS);
    let entities_of = |kind: EntityKind| -> Vec<usize> {
        (0..entities.len())
            .filter(|&i| entities[i].kind == kind)
            .collect()
    };
    let mut order: Vec<&Fact> = facts.iter().collect();
    rng.shuffle(&mut order);
    let mut dev_left: BTreeMap<Split, usize> = Split::ALL
        .iter()
        .map(|&s| (s, spec.dev_questions))
        .collect();
    let mut out = Vec::new();
    for fact in order {
        let opts = bench::options(&mut rng, fact, &entities_of, words_of, writers)?;
        let left = dev_left.entry(fact.split).or_default();
        let dev = *left > 0;
        if dev {
            *left -= 1;
        }
        let form = rng.below(64);
        for w in writers {
            let layout = Layout::for_language(w.lang, writers[0].lang);
            let part = if dev { "dev" } else { layout.eval_part() };
            out.push(bench::question(w, fact, &opts, part, form)?);
        }
    }
    Ok(out)
}

/// `world.json`: the spec, the summary, every entity's names and every fact with its split.
fn describe(
    spec: &WorldSpec,
    summary: &Summary,
    entities: &[Entity],
    facts: &[Fact],
    writers: &[Writer],
) -> Result<String> {
    let entity_rows: Vec<serde_json::Value> = entities
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let names: BTreeMap<&str, String> = writers
                .iter()
                .map(|w| (w.lang.language.as_str(), e.render(w.lang)))
                .collect();
            serde_json::json!({"id": i, "kind": e.kind, "names": names})
        })
        .collect();
    let fact_rows: Vec<serde_json::Value> = facts
        .iter()
        .map(|f| {
            let object = match &f.object {
                facts::Value::Year(y) => serde_json::json!(y),
                facts::Value::Entity(i) => serde_json::json!({"entity": i}),
                facts::Value::Word(k) => serde_json::json!({"word": k}),
            };
            serde_json::json!({
                "id": f.id, "subject": f.subject, "relation": f.relation, "object": object,
                "split": f.split, "instructed": f.instructed,
                "en": writers[0].statement(f, 0).unwrap_or_default(),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "generator": concat!("beyond ", env!("CARGO_PKG_VERSION")),
        "spec": spec,
        "summary": summary,
        "entities": entity_rows,
        "facts": fact_rows,
    });
    serde_json::to_string_pretty(&doc).map_err(|e| Error::Serialize(e.to_string()))
}

/// Writes the world's files under `dir`, each atomically.
#[cfg(feature = "native")]
pub fn write(world: &World, dir: &std::path::Path) -> Result<()> {
    for (name, bytes) in &world.files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        crate::fsx::write_atomic(&path, bytes)?;
    }
    Ok(())
}
