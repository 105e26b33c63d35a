//! The checks every HF-made checkpoint must pass, on any device: logits of each prompt, the greedy
//! continuation, the padded-batch loss, and KV-cache decoding against full recomputation.

use std::ops::ControlFlow;
use std::path::Path;

use burn::prelude::*;

use beyond::model::generate::ids_tensor;
use beyond::model::{Checkpoint, ForwardOptions, Llama, SamplingConfig, causal_lm_loss, generate};

use super::{ids, max_abs_diff, reference_json, reference_tensor, rows};

/// Logits of every reference prompt within `tol` (max abs).
pub fn check_logits(model: &Llama, dir: &Path, tol: f32) {
    let reference = reference_json(dir);
    let device = model.device();
    for (i, prompt) in reference["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let prompt = ids(prompt);
        let expected = reference_tensor(
            dir,
            &format!("logits_{i}"),
            &[prompt.len(), model.config.vocab_size],
        );
        let logits = model.forward(ids_tensor(&[prompt], &device), ForwardOptions::default());
        let got = logits.into_data().try_into_vec::<f32>().unwrap();
        let diff = max_abs_diff(&got, &expected);
        assert!(
            diff <= tol,
            "{}: prompt {i}: max abs diff {diff} > {tol}",
            dir.display()
        );
    }
}

/// The greedy continuation of the reference, token for token.
pub fn check_greedy(model: &Llama, dir: &Path) {
    let reference = reference_json(dir);
    let prompt_index = reference["greedy_prompt"].as_u64().unwrap() as usize;
    let prompt = ids(&reference["input_ids"][prompt_index]);
    let expected = ids(&reference["greedy_ids"]);
    let new = expected.len() - prompt.len();
    let out = generate(
        model,
        None,
        &prompt,
        &SamplingConfig::greedy(new),
        &[],
        |_| ControlFlow::Continue(()),
    )
    .unwrap();
    assert_eq!(out.ids, expected, "{}: greedy continuation", dir.display());
}

/// Mean loss on the right-padded batch within `tol`.
pub fn check_batch_loss(model: &Llama, dir: &Path, tol: f64) {
    let reference = reference_json(dir);
    let device = model.device();
    let input: Vec<Vec<u32>> = rows(&reference["batch_input_ids"]);
    let mask: Vec<Vec<u8>> = rows(&reference["batch_attention_mask"]);
    let labels: Vec<Vec<i64>> = rows(&reference["batch_labels"]);
    let logits = model.forward(
        ids_tensor(&input, &device),
        ForwardOptions {
            attention_mask: Some(&mask),
            cache: None,
        },
    );
    let (loss, _) = causal_lm_loss(logits, &labels);
    let loss = loss.into_scalar::<f32>() as f64;
    let expected = reference["loss"].as_f64().unwrap();
    assert!(
        (loss - expected).abs() <= tol,
        "{}: loss {loss} vs {expected}",
        dir.display()
    );
}

/// Prefill half the prompt, then feed one token at a time through the cache: the logits match a
/// forward pass over the whole prefix.
pub fn check_kv_cache(model: &Llama, dir: &Path, tol: f32) {
    let reference = reference_json(dir);
    let device = model.device();
    let prompt = ids(&reference["input_ids"][0]);
    let full = model
        .forward(
            ids_tensor(std::slice::from_ref(&prompt), &device),
            ForwardOptions::default(),
        )
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let vocab = model.config.vocab_size;
    let mut cache = beyond::model::KvCache::new(model.config.num_layers);
    let split = prompt.len() / 2;
    let first = model.forward(
        ids_tensor(&[prompt[..split].to_vec()], &device),
        ForwardOptions {
            attention_mask: None,
            cache: Some(&mut cache),
        },
    );
    let first = first.into_data().try_into_vec::<f32>().unwrap();
    assert!(max_abs_diff(&first, &full[..split * vocab]) <= tol);
    for (pos, &id) in prompt.iter().enumerate().skip(split) {
        let step = model.forward_last(
            ids_tensor(&[vec![id]], &device),
            ForwardOptions {
                attention_mask: None,
                cache: Some(&mut cache),
            },
        );
        let step = step.into_data().try_into_vec::<f32>().unwrap();
        let diff = max_abs_diff(&step, &full[pos * vocab..(pos + 1) * vocab]);
        assert!(
            diff <= tol,
            "position {pos}: cached vs full differ by {diff}"
        );
    }
    assert_eq!(cache.len(), prompt.len());
}

/// Loads a checkpoint directory onto `device`.
pub fn load(dir: &Path, device: &Device) -> Llama {
    Checkpoint::open(dir).unwrap().load(device).unwrap().0
}

/// Training against the fixture's reference: the padded batch's loss and every parameter's
/// gradient norm (1e-3 relative), the loss after one SGD step, and after three AdamW steps
/// with the hyper-parameters recorded there.
pub fn check_training(dir: &Path, device: &Device, loss_tol: f64) {
    use beyond::train::{
        AdamWConfig, Batch, Optimizer, OptimizerConfig, batch_loss, grad_norms, loss_and_grads,
        named_params,
    };
    use burn::module::Module;

    let reference = super::reference_json(dir);
    let batch = Batch {
        input_ids: super::rows(&reference["batch_input_ids"]),
        labels: super::rows(&reference["batch_labels"]),
        attention_mask: Some(super::rows(&reference["batch_attention_mask"])),
    };
    let fresh = || load(dir, device).train();

    // Loss and gradient norms.
    let model = fresh();
    let params = named_params(&model);
    let (loss, grads) = loss_and_grads(&model, &batch, &params, 1.0);
    let expected = reference["loss"].as_f64().unwrap();
    assert!(
        (loss - expected).abs() < loss_tol,
        "loss {loss} vs {expected}"
    );
    let norms = grad_norms(&grads, &params);
    let wanted = reference["grad_norms"].as_object().unwrap();
    assert_eq!(norms.len(), wanted.len(), "one gradient per parameter");
    for (name, norm) in norms {
        let want = wanted[&name].as_f64().unwrap();
        let got = norm.unwrap_or_else(|| panic!("no gradient for {name}"));
        assert!(
            (got - want).abs() <= 1e-3 * want.abs().max(1e-6),
            "{name}: gradient norm {got} vs {want}"
        );
    }

    // One SGD step.
    let mut sgd = Optimizer::new(OptimizerConfig::Sgd);
    let lr = reference["sgd_lr"].as_f64().unwrap();
    let model = sgd.step(model, &grads, &params, lr);
    let after = batch_loss(&model.valid(), &batch).into_scalar::<f32>() as f64;
    let expected = reference["loss_after_sgd_step"].as_f64().unwrap();
    assert!(
        (after - expected).abs() < loss_tol * 10.0,
        "after SGD {after} vs {expected}"
    );

    // Three AdamW steps.
    let a = &reference["adamw"];
    let config = AdamWConfig {
        beta1: a["betas"][0].as_f64().unwrap(),
        beta2: a["betas"][1].as_f64().unwrap(),
        eps: a["eps"].as_f64().unwrap(),
        weight_decay: a["weight_decay"].as_f64().unwrap(),
        decay_norms_and_embeddings: true,
    };
    let lr = a["lr"].as_f64().unwrap();
    let mut adamw = Optimizer::new(OptimizerConfig::AdamW(config));
    let mut model = fresh();
    let params = named_params(&model);
    for _ in 0..a["steps"].as_u64().unwrap() {
        let (_, grads) = loss_and_grads(&model, &batch, &params, 1.0);
        model = adamw.step(model, &grads, &params, lr);
    }
    let after = batch_loss(&model.valid(), &batch).into_scalar::<f32>() as f64;
    let expected = reference["loss_after_adamw_steps"].as_f64().unwrap();
    assert!(
        (after - expected).abs() < loss_tol * 10.0,
        "after AdamW {after} vs {expected}"
    );
}
