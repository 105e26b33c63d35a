//! Training: continued pretraining and instruction tuning, resumable, with live progress.

pub mod adamw;
pub mod config;
pub mod live;
pub mod lora;
pub mod optim;
pub mod params;
#[cfg(feature = "native")]
pub mod run;
pub mod schedule;
pub mod sft;
pub mod step;

pub use config::{ModelSource, OptimizerKind, RunConfig, Stage};
pub use lora::{LoraConfig, LoraModel};
pub use optim::{AdamWConfig, Optimizer, OptimizerConfig, clip_global_norm, grad_norms};
pub use params::{NamedParam, Trainable, named_params};
#[cfg(feature = "native")]
pub use run::{
    RunDir, StepMetrics, TrainReport, TrainerState, read_metrics, read_run_history,
    read_trainer_state, train,
};
pub use schedule::{Decay, Schedule};
pub use step::{Batch, batch_loss, loss_and_grads};
