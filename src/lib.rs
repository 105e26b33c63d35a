//! beyond: a workbench for language capability transfer.
//!
//! Take a LLaMA-architecture model that knows mostly English, teach it another language, and
//! measure what happened, after Zhao et al., "LLaMA Beyond English: An Empirical Study on Language
//! Capability Transfer" (2024). This crate is the core; the CLI, the desktop app and the web build
//! are faces that start its jobs and render their events.

#[cfg(feature = "app")]
pub mod app;
pub mod archive;
#[cfg(feature = "native")]
pub mod bench;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
#[cfg(feature = "native")]
pub mod export;
pub mod jobs;
pub mod lesson;
pub mod model;
pub mod rng;
#[cfg(feature = "native")]
pub mod serve;
#[cfg(feature = "native")]
pub mod study;
#[cfg(feature = "native")]
pub mod tasks;
pub mod train;
pub mod vocab;
pub mod world;

#[cfg(feature = "native")]
pub mod fsx;

pub use error::{Error, Result};
