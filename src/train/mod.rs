//! Training: continued pretraining and instruction tuning.

pub mod optim;
pub mod params;
pub mod step;

pub use optim::{AdamWConfig, Optimizer, OptimizerConfig, clip_global_norm, grad_norms};
pub use params::{NamedParam, Trainable, named_params};
pub use step::{Batch, batch_loss, loss_and_grads};
