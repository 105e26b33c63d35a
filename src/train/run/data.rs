//! A run's data: packed text for pretraining or templated examples for instruction tuning, as
//! batches of sequences, replayable to any position, with held-out batches for evaluation.

use std::sync::Arc;

use crate::data::{CorpusCounts, SequenceStream, Split, StreamOptions};
use crate::error::Result;
use crate::jobs::JobContext;
use crate::model::{Llama, TextTokenizer};
use crate::train::config::{RunConfig, Stage};
use crate::train::sft::SftData;
use crate::train::step::{Batch, batch_loss};

/// The data of either stage behind one interface.
pub(super) enum Data {
    Pretrain {
        train: Box<SequenceStream>,
        heldout: Option<Box<SequenceStream>>,
    },
    Sft(SftData),
}

impl Data {
    pub(super) fn open(
        config: &RunConfig,
        tokenizer: Arc<TextTokenizer>,
        ctx: &JobContext,
    ) -> Result<Self> {
        let d = &config.data;
        match config.stage {
            Stage::Pretrain => {
                let options = |split| StreamOptions {
                    seq_len: d.seq_len,
                    seed: config.seed,
                    shuffle_buffer: d.shuffle_buffer,
                    heldout_every: (d.heldout_every > 0).then_some(d.heldout_every),
                    split,
                    on_bad_line: d.on_bad_line,
                    tokenize_batch: 256,
                };
                let train =
                    SequenceStream::new(&d.corpora, tokenizer.clone(), options(Split::Train))?;
                let heldout = match d.heldout_every > 0 && config.eval.every > 0 {
                    true => Some(SequenceStream::new(
                        &d.corpora,
                        tokenizer,
                        options(Split::Heldout),
                    )?),
                    false => None,
                };
                Ok(Data::Pretrain {
                    train: Box::new(train),
                    heldout: heldout.map(Box::new),
                })
            }
            Stage::Sft => Ok(Data::Sft(SftData::open(config, &tokenizer, ctx)?)),
        }
    }

    pub(super) fn skip(&mut self, sequences: u64) -> Result<()> {
        match self {
            Data::Pretrain { train, .. } => train.skip(sequences),
            Data::Sft(sft) => {
                sft.skip(sequences);
                Ok(())
            }
        }
    }

    pub(super) fn next_batch(&mut self, n: usize) -> Result<Batch> {
        match self {
            Data::Pretrain { train, .. } => {
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push(train.next_sequence()?.ids);
                }
                let labels = ids
                    .iter()
                    .map(|row: &Vec<u32>| row.iter().map(|&t| t as i64).collect())
                    .collect();
                Ok(Batch {
                    input_ids: ids,
                    labels,
                    attention_mask: None,
                })
            }
            Data::Sft(sft) => Ok(sft.next_batch(n)),
        }
    }

    pub(super) fn heldout_batches(&mut self, config: &RunConfig) -> Result<Option<Vec<Batch>>> {
        let n = config.eval.sequences;
        let size = config.data.batch_size.max(1);
        match self {
            Data::Pretrain {
                heldout: Some(h), ..
            } if n > 0 => {
                let mut seqs = Vec::with_capacity(n);
                for _ in 0..n {
                    seqs.push(h.next_sequence()?.ids);
                }
                let batches = seqs
                    .chunks(size)
                    .map(|chunk| Batch {
                        input_ids: chunk.to_vec(),
                        labels: chunk
                            .iter()
                            .map(|r| r.iter().map(|&t| t as i64).collect())
                            .collect(),
                        attention_mask: None,
                    })
                    .collect();
                Ok(Some(batches))
            }
            Data::Sft(sft) if n > 0 => Ok(sft.heldout_batches(size)),
            _ => Ok(None),
        }
    }

    pub(super) fn counts(&self) -> Vec<CorpusCounts> {
        match self {
            Data::Pretrain { train, .. } => train.counts(),
            Data::Sft(sft) => sft.counts(),
        }
    }

    pub(super) fn truncated(&self) -> Option<u64> {
        match self {
            Data::Sft(sft) => Some(sft.truncated),
            _ => None,
        }
    }
}

/// Mean held-out loss over `batches`, weighted by predicted tokens.
pub(super) fn heldout_loss(valid: &Llama, batches: &[Batch]) -> f64 {
    let mut total = 0.0;
    let mut count = 0usize;
    for b in batches {
        let n = b.target_tokens();
        total += batch_loss(valid, b).into_scalar::<f32>() as f64 * n as f64;
        count += n;
    }
    total / count.max(1) as f64
}
