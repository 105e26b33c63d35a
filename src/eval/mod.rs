//! Measuring models: perplexity and bits per byte on held-out text.

pub mod perplexity;
