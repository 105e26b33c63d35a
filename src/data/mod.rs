//! Training data: corpora streamed from disk, tokenized, packed and mixed; instruction data.

pub mod documents;
pub mod instruct;
pub mod stream;

pub use documents::{DocumentFormat, DocumentReader, OnBadLine};
pub use stream::{
    CorpusCounts, CorpusSpec, FormatName, Sequence, SequenceStream, Split, StreamOptions,
};
