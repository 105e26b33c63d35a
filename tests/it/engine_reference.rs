//! The engine against references made by HF transformers, on the CPU device: the shared fixture
//! `tiny-llama-a` (GQA, untied head, f32, 4.x config) and checkpoints that differ from it in every
//! way the format allows (made by `tests/fixtures/make_variants.py`).

use crate::common;

use burn::prelude::*;
use common::reference::{check_batch_loss, check_greedy, check_kv_cache, check_logits, load};

fn cpu() -> Device {
    Device::flex()
}

#[test]
fn fixture_a_logits_match_transformers() {
    let model = load(&common::fixture_a(), &cpu());
    check_logits(&model, &common::fixture_a(), 1e-4);
}

#[test]
fn fixture_a_greedy_continuation_matches() {
    let model = load(&common::fixture_a(), &cpu());
    check_greedy(&model, &common::fixture_a());
}

#[test]
fn fixture_a_padded_batch_loss_matches() {
    let model = load(&common::fixture_a(), &cpu());
    check_batch_loss(&model, &common::fixture_a(), 1e-4);
}

#[test]
fn fixture_a_kv_cache_matches_recomputation() {
    let model = load(&common::fixture_a(), &cpu());
    check_kv_cache(&model, &common::fixture_a(), 1e-4);
}

/// Tied head, MHA, 4.x config without head_dim.
#[test]
fn tied_head_checkpoint_matches() {
    let dir = common::variant("tied-mha-f32-v4");
    let model = load(&dir, &cpu());
    assert!(model.lm_head.is_none(), "the head is tied");
    check_logits(&model, &dir, 1e-4);
    check_greedy(&model, &dir);
    check_batch_loss(&model, &dir, 1e-4);
    check_kv_cache(&model, &dir, 1e-4);
}

/// One kv head, explicit head_dim, bf16 on disk, 5.x config, LLaMA-3.1 RoPE scaling.
#[test]
fn mqa_bf16_v5_checkpoint_matches() {
    let dir = common::variant("mqa-bf16-v5-llama3rope");
    let model = load(&dir, &cpu());
    assert_eq!(model.config.num_kv_heads, 1);
    assert_eq!(model.config.head_dim, 16);
    check_logits(&model, &dir, 1e-4);
    check_greedy(&model, &dir);
    check_batch_loss(&model, &dir, 1e-4);
    check_kv_cache(&model, &dir, 1e-4);
}

/// Six heads on two kv heads, attention and MLP biases, f16 shards, linear RoPE scaling.
#[test]
fn sharded_f16_checkpoint_with_biases_matches() {
    let dir = common::variant("gqa-f16-sharded-bias");
    let model = load(&dir, &cpu());
    assert!(model.layers[0].self_attn.q_proj.bias.is_some());
    check_logits(&model, &dir, 1e-4);
    check_greedy(&model, &dir);
    check_batch_loss(&model, &dir, 1e-4);
    check_kv_cache(&model, &dir, 1e-4);
}

#[test]
fn text_goes_through_the_llama2_tokenizer_with_bos() {
    let device = cpu();
    let loaded = beyond::model::LoadedModel::open(&common::fixture_a(), &device).unwrap();
    let tok = loaded.require_tokenizer().unwrap();
    let reference = common::reference_json(&common::fixture_a());
    // The reference's prompt 1 is "All human beings ..." tokenized by transformers with BOS.
    let text = reference["prompts"][1].as_str().unwrap();
    assert_eq!(
        tok.encode_with_bos(text).unwrap(),
        common::ids(&reference["input_ids"][1])
    );
    assert_eq!(tok.bos_id, Some(1));
    assert_eq!(tok.eos_ids, vec![2]);
}
