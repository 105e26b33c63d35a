//! The integration tests, one crate: each module tests one part of the study on real files (HF-made
//! checkpoints and references, the LLaMA-2 tokenizer, the UDHR texts), through the library or the
//! `beyond` binary.

mod common;

mod bad_input;
mod checkpoint_roundtrip;
mod cli;
mod codeswitch;
mod engine_reference;
mod export;
mod gpu_kernels;
mod hf_interop;
mod lesson_model;
mod mcq_formats;
mod serve;
mod study;
mod train_reference;
mod train_run;
mod vocab_analyze;
mod vocab_extend;
mod vocab_resize;
mod wgpu_reference;
mod world;
mod world_languages;
mod world_study;
