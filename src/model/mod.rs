//! The LLaMA model: configuration, layers, checkpoints, tokenizer and generation.

#[cfg(feature = "native")]
pub mod adapter;
pub mod attention;
pub mod cache;
pub mod checkpoint;
pub mod config;
pub mod cross_entropy;
pub mod generate;
pub mod head_loss;
pub mod llama;
pub mod loaded;
pub mod projection;
pub mod rms_norm;
pub mod rope;
pub(crate) mod row_grid;
pub mod rows;
pub(crate) mod strided_gemm;
pub mod swiglu;
#[cfg(test)]
pub(crate) mod test_values;
pub mod tokenizer;
pub mod weights;

pub use cache::KvCache;
pub use checkpoint::{Checkpoint, LoadReport, SaveOptions};
pub use config::{HfConfig, LlamaConfig, StorageDType};
pub use generate::{Generation, SamplingConfig, StopReason, generate};
pub use llama::{ForwardOptions, IGNORE_INDEX, Llama, causal_lm_loss};
pub use loaded::{LoadedModel, ModelInfo};
pub use tokenizer::TextTokenizer;
