//! Instruction-tuning data for a run: every file's examples tokenized once, a held-out share
//! set aside, then right-padded batches in a seeded order that is reshuffled each epoch.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::config::RunConfig;
use super::step::Batch;
use crate::data::CorpusCounts;
use crate::data::instruct::{Template, TokenizedExample, read_instructions, tokenize};
use crate::error::Result;
use crate::jobs::JobContext;
use crate::model::{IGNORE_INDEX, TextTokenizer};

pub struct SftData {
    train: Vec<(usize, TokenizedExample)>,
    heldout: Vec<TokenizedExample>,
    order: Vec<usize>,
    cursor: usize,
    epoch: u64,
    seed: u64,
    pad: u32,
    counts: Vec<CorpusCounts>,
    /// Examples longer than the sequence length, cut to it.
    pub truncated: u64,
}

impl SftData {
    pub fn open(config: &RunConfig, tokenizer: &TextTokenizer, ctx: &JobContext) -> Result<Self> {
        let template = match &config.data.template {
            Some(path) => Template::from_toml_file(path)?,
            None => Template::default(),
        };
        let mut train = Vec::new();
        let mut heldout = Vec::new();
        let mut truncated = 0;
        let mut counts = Vec::new();
        let every = config.data.heldout_every;
        for (i, spec) in config.data.corpora.iter().enumerate() {
            let file = read_instructions(&spec.path, &template, config.data.on_bad_line)?;
            if file.bad_line_count > 0 {
                ctx.message(format!(
                    "{}: skipped {} unreadable records (first: line {}: {})",
                    spec.path.display(),
                    file.bad_line_count,
                    file.bad_lines.first().map_or(0, |b| b.line),
                    file.bad_lines.first().map_or("", |b| b.reason.as_str())
                ));
            }
            counts.push(CorpusCounts {
                name: spec.name.clone(),
                bad_lines: file.bad_line_count,
                ..Default::default()
            });
            for (k, conv) in file.examples.iter().enumerate() {
                let ex = tokenize(conv, &template, tokenizer, config.data.seq_len)?;
                truncated += ex.truncated as u64;
                if every > 0 && k as u64 % every == every - 1 {
                    heldout.push(ex);
                } else {
                    train.push((i, ex));
                }
            }
        }
        if truncated > 0 {
            ctx.message(format!(
                "{truncated} examples are longer than {} tokens and were cut",
                config.data.seq_len
            ));
        }
        let pad = tokenizer.eos_ids.first().copied().unwrap_or(0);
        let mut data = Self {
            order: Vec::new(),
            train,
            heldout,
            cursor: 0,
            epoch: 0,
            seed: config.seed,
            pad,
            counts,
            truncated,
        };
        data.reshuffle();
        Ok(data)
    }

    fn reshuffle(&mut self) {
        self.order = (0..self.train.len()).collect();
        let mut rng = StdRng::seed_from_u64(self.seed.wrapping_add(self.epoch));
        self.order.shuffle(&mut rng);
        self.cursor = 0;
        self.epoch += 1;
    }

    fn next_example(&mut self) -> &(usize, TokenizedExample) {
        if self.cursor >= self.order.len() {
            self.reshuffle();
        }
        let i = self.order[self.cursor];
        self.cursor += 1;
        &self.train[i]
    }

    pub fn skip(&mut self, n: u64) {
        for _ in 0..n {
            let (source, ex) = self.next_example();
            let (source, len) = (*source, ex.ids.len() as u64);
            self.count(source, len);
        }
    }

    fn count(&mut self, source: usize, tokens: u64) {
        let c = &mut self.counts[source];
        c.sequences += 1;
        c.tokens += tokens;
        c.epochs = self.epoch;
    }

    pub fn next_batch(&mut self, n: usize) -> Batch {
        let mut examples = Vec::with_capacity(n);
        for _ in 0..n {
            let (source, ex) = self.next_example().clone();
            self.count(source, ex.ids.len() as u64);
            examples.push(ex);
        }
        pad_batch(&examples, self.pad)
    }

    pub fn heldout_batches(&self, size: usize) -> Option<Vec<Batch>> {
        if self.heldout.is_empty() {
            return None;
        }
        Some(
            self.heldout
                .chunks(size)
                .map(|c| pad_batch(c, self.pad))
                .collect(),
        )
    }

    pub fn counts(&self) -> Vec<CorpusCounts> {
        self.counts.clone()
    }

    /// Training examples available (after the held-out share).
    pub fn len(&self) -> usize {
        self.train.len()
    }

    pub fn is_empty(&self) -> bool {
        self.train.is_empty()
    }
}

/// Right-pads examples to the longest, with labels ignored and attention off on the padding.
pub fn pad_batch(examples: &[TokenizedExample], pad: u32) -> Batch {
    let width = examples
        .iter()
        .map(|e| e.ids.len())
        .max()
        .unwrap_or(0)
        .max(2);
    let mut batch = Batch {
        input_ids: Vec::with_capacity(examples.len()),
        labels: Vec::with_capacity(examples.len()),
        attention_mask: Some(Vec::with_capacity(examples.len())),
    };
    for e in examples {
        let fill = width - e.ids.len();
        let mut ids = e.ids.clone();
        ids.extend(std::iter::repeat_n(pad, fill));
        let mut labels = e.labels.clone();
        labels.extend(std::iter::repeat_n(IGNORE_INDEX, fill));
        let mut mask = vec![1u8; e.ids.len()];
        mask.extend(std::iter::repeat_n(0u8, fill));
        batch.input_ids.push(ids);
        batch.labels.push(labels);
        if let Some(m) = batch.attention_mask.as_mut() {
            m.push(mask);
        }
    }
    batch
}
