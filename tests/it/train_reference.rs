//! Training arithmetic against PyTorch on the CPU device: loss, gradient norms, one SGD step
//! and three AdamW steps on the fixture's padded batch (references made by transformers).

use crate::common;

use burn::prelude::*;

#[test]
fn training_matches_pytorch_on_cpu() {
    common::reference::check_training(&common::fixture_a(), &Device::flex(), 1e-4);
}
