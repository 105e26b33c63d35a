//! Training sequences from a mixture of corpora: documents are tokenized in batches, wrapped in
//! BOS ... EOS, packed end to end into fixed-length sequences, mixed across corpora in the
//! ratios asked for (exactly, by smooth weighted round robin over sequences), each corpus's
//! sequences shuffled in its own seeded buffer. A corpus that runs out starts its next epoch. Every step is deterministic in
//! the seed, so a resumed run replays the stream to where it stopped.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::documents::{DocumentFormat, DocumentReader, OnBadLine};
use crate::error::{Error, Result};
use crate::model::TextTokenizer;

/// One corpus of a mixture, as a run configuration names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusSpec {
    /// A short name for reports (`zh`, `en`).
    pub name: String,
    pub path: PathBuf,
    /// Share of training tokens (normalised over the mixture).
    #[serde(default = "one")]
    pub weight: f64,
    /// `lines` (default for text), `paragraphs`, or `jsonl` (default for `.jsonl`).
    #[serde(default)]
    pub format: Option<FormatName>,
    /// The JSON field that holds the text (JSON Lines).
    #[serde(default)]
    pub field: Option<String>,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatName {
    Lines,
    Paragraphs,
    Jsonl,
}

impl CorpusSpec {
    pub fn document_format(&self) -> DocumentFormat {
        let field = self.field.clone().unwrap_or_else(|| "text".into());
        match self.format {
            Some(FormatName::Lines) => DocumentFormat::Lines,
            Some(FormatName::Paragraphs) => DocumentFormat::Paragraphs,
            Some(FormatName::Jsonl) => DocumentFormat::Jsonl { field },
            None => match DocumentFormat::from_path(&self.path) {
                DocumentFormat::Jsonl { .. } => DocumentFormat::Jsonl { field },
                other => other,
            },
        }
    }
}

/// Which documents a stream takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Everything but the held-out documents.
    Train,
    /// Every `every`-th document of each corpus (the held-out split).
    Heldout,
}

/// How to cut the stream.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub seq_len: usize,
    pub seed: u64,
    /// Sequences held in the shuffle buffer (0 or 1: no shuffling).
    pub shuffle_buffer: usize,
    /// One document in `heldout_every` goes to the held-out split (`None`: no held-out split).
    pub heldout_every: Option<u64>,
    pub split: Split,
    pub on_bad_line: OnBadLine,
    /// Documents tokenized per batch.
    pub tokenize_batch: usize,
}

/// Counts for one corpus.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CorpusCounts {
    pub name: String,
    /// Sequences handed out from this corpus.
    pub sequences: u64,
    /// Tokens handed out from this corpus.
    pub tokens: u64,
    /// Passes started over the file (1 during the first).
    pub epochs: u64,
    /// JSON lines that could not be read.
    pub bad_lines: u64,
}

struct Source {
    spec: CorpusSpec,
    weight: f64,
    reader: Option<DocumentReader>,
    pending: VecDeque<u32>,
    /// Packed sequences waiting to be drawn at random.
    shuffle: Vec<Vec<u32>>,
    doc_index: u64,
    /// Tokens produced in the current epoch (to detect a corpus with nothing in it).
    epoch_tokens: u64,
    counts: CorpusCounts,
    bad_lines_before: u64,
}

/// A packed sequence and the corpus it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub source: usize,
    pub ids: Vec<u32>,
}

/// The endless, deterministic stream of packed sequences of a mixture.
pub struct SequenceStream {
    sources: Vec<Source>,
    tokenizer: Arc<TextTokenizer>,
    options: StreamOptions,
    rng: StdRng,
    /// Sequences handed out so far.
    pub position: u64,
}

impl SequenceStream {
    pub fn new(
        corpora: &[CorpusSpec],
        tokenizer: Arc<TextTokenizer>,
        options: StreamOptions,
    ) -> Result<Self> {
        if corpora.is_empty() {
            return Err(Error::InvalidInput("the data names no corpus".into()));
        }
        if options.seq_len < 2 {
            return Err(Error::InvalidInput(
                "sequence length must be at least 2".into(),
            ));
        }
        let total: f64 = corpora.iter().map(|c| c.weight).sum();
        let mut sources = Vec::with_capacity(corpora.len());
        for spec in corpora {
            if !(spec.weight.is_finite() && spec.weight > 0.0) {
                return Err(Error::InvalidInput(format!(
                    "corpus `{}`: weight must be positive",
                    spec.name
                )));
            }
            if !spec.path.is_file() {
                return Err(Error::bad_file(&spec.path, "corpus file not found"));
            }
            sources.push(Source {
                spec: spec.clone(),
                weight: spec.weight / total,
                reader: None,
                pending: VecDeque::new(),
                shuffle: Vec::new(),
                doc_index: 0,
                epoch_tokens: 0,
                counts: CorpusCounts {
                    name: spec.name.clone(),
                    ..Default::default()
                },
                bad_lines_before: 0,
            });
        }
        let split_salt = match options.split {
            Split::Train => 0,
            Split::Heldout => 0x5eed,
        };
        let rng = StdRng::seed_from_u64(options.seed ^ split_salt);
        Ok(Self {
            sources,
            tokenizer,
            options,
            rng,
            position: 0,
        })
    }

    /// Counts per corpus of what was handed out so far.
    pub fn counts(&self) -> Vec<CorpusCounts> {
        self.sources
            .iter()
            .map(|s| {
                let mut c = s.counts.clone();
                c.bad_lines =
                    s.bad_lines_before + s.reader.as_ref().map_or(0, |r| r.bad_line_count);
                c
            })
            .collect()
    }

    /// The next sequence.
    pub fn next_sequence(&mut self) -> Result<Sequence> {
        let source = self.pick_source();
        let want = self.options.shuffle_buffer.max(1);
        while self.sources[source].shuffle.len() < want {
            let ids = self.pack_from(source)?;
            self.sources[source].shuffle.push(ids);
        }
        let buffered = self.sources[source].shuffle.len();
        let index = if buffered > 1 {
            self.rng.random_range(0..buffered)
        } else {
            0
        };
        let ids = self.sources[source].shuffle.swap_remove(index);
        let counts = &mut self.sources[source].counts;
        counts.sequences += 1;
        counts.tokens += ids.len() as u64;
        self.position += 1;
        Ok(Sequence { source, ids })
    }

    /// Skips `n` sequences (to resume where a run stopped).
    pub fn skip(&mut self, n: u64) -> Result<()> {
        for _ in 0..n {
            self.next_sequence()?;
        }
        Ok(())
    }

    /// The corpus furthest behind its share (smooth weighted round robin).
    fn pick_source(&self) -> usize {
        let mut best = 0;
        let mut best_key = f64::INFINITY;
        for (i, s) in self.sources.iter().enumerate() {
            let key = (s.counts.sequences as f64 + 1.0) / s.weight;
            if key < best_key {
                best = i;
                best_key = key;
            }
        }
        best
    }

    fn pack_from(&mut self, i: usize) -> Result<Vec<u32>> {
        let seq_len = self.options.seq_len;
        while self.sources[i].pending.len() < seq_len {
            self.refill(i)?;
        }
        Ok(self.sources[i].pending.drain(..seq_len).collect())
    }

    /// Tokenizes the next batch of documents of source `i` into its pending tokens.
    fn refill(&mut self, i: usize) -> Result<()> {
        let batch = self.options.tokenize_batch.max(1);
        let mut docs = Vec::with_capacity(batch);
        while docs.len() < batch {
            let source = &mut self.sources[i];
            if source.reader.is_none() {
                if source.counts.epochs > 0 && source.epoch_tokens == 0 {
                    let reason = match (source.doc_index, self.options.split) {
                        (0, _) => "the corpus has no documents".to_string(),
                        (n, Split::Train) => format!(
                            "none of the corpus's {n} documents is left for training after the held-out share"
                        ),
                        (n, Split::Heldout) => format!(
                            "the corpus's {n} documents give no held-out document (one in {} is held out)",
                            self.options.heldout_every.unwrap_or(0)
                        ),
                    };
                    return Err(Error::bad_file(&source.spec.path, reason));
                }
                source.reader = Some(DocumentReader::open(
                    &source.spec.path,
                    source.spec.document_format(),
                    self.options.on_bad_line,
                )?);
                source.counts.epochs += 1;
                source.epoch_tokens = 0;
                source.doc_index = 0;
                // doc_index now counts this pass's documents, and is kept after its end.
            }
            let reader = source.reader.as_mut().expect("opened above");
            match reader.next_document()? {
                Some(doc) => {
                    let index = source.doc_index;
                    source.doc_index += 1;
                    let heldout = self
                        .options
                        .heldout_every
                        .is_some_and(|every| every > 0 && index % every == every - 1);
                    let wanted = match self.options.split {
                        Split::Train => !heldout,
                        Split::Heldout => heldout,
                    };
                    if wanted {
                        docs.push(doc);
                    }
                }
                None => {
                    source.bad_lines_before += reader.bad_line_count;
                    source.reader = None;
                    if !docs.is_empty() {
                        break;
                    }
                    // Reopened on the next turn; a pass that gave nothing ends in the error above.
                }
            }
        }
        let encoded = self.tokenizer.encode_batch(docs)?;
        let (bos, eos) = (
            self.tokenizer.bos_id,
            self.tokenizer.eos_ids.first().copied(),
        );
        let source = &mut self.sources[i];
        for ids in encoded {
            if ids.is_empty() {
                continue;
            }
            let before = source.pending.len();
            source.pending.extend(bos);
            source.pending.extend(ids);
            source.pending.extend(eos);
            source.epoch_tokens += (source.pending.len() - before) as u64;
        }
        Ok(())
    }
}
