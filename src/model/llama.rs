//! LLaMA as in HF transformers' `LlamaForCausalLM` (`models/llama/modeling_llama.py`), after
//! Touvron et al., "LLaMA: Open and Efficient Foundation Language Models" (2023).
//!
//! Pre-norm decoder blocks: `h = x + attn(rms_norm(x)); out = h + mlp(rms_norm(h))`, grouped-query
//! attention with rotary positions in the HF (`rotate_half`) layout, a SwiGLU MLP, a final norm and
//! a language-model head that may be tied to the token embedding.
//!
//! Projections are Burn `Linear`s, whose weight is `(d_in, d_out)`: the transpose of the
//! `(out, in)` that HF stores. Checkpoint I/O transposes; nothing else needs to know.

use burn::module::Param;
use burn::nn::{Embedding, Linear, RmsNorm};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use super::attention as causal;
use super::cache::KvCache;
use super::config::LlamaConfig;
use super::cross_entropy::cross_entropy;
use super::head_loss::weighted_nll_sum;
use super::projection::{apply_linear, project};
use super::rms_norm::rms_norm;
use super::rope::{Rope, apply_rotary};
use super::swiglu::swiglu;

/// Label value that the loss ignores, as in PyTorch's `CrossEntropyLoss`.
pub const IGNORE_INDEX: i64 = -100;

/// Multi-head attention with `num_kv_heads` key/value heads shared by groups of query heads.
#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl Attention {
    /// `x`: `(batch, seq_len, hidden)`; `mask`: `true` where a query may not look at a key,
    /// `(batch, num_heads, seq_len, cached + seq_len)`, or `None` for plain causal attention.
    fn forward(
        &self,
        x: Tensor<3>,
        rope: (&Tensor<2>, &Tensor<2>),
        mask: Option<Tensor<4, Bool>>,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let (nh, nkv, hd) = (self.num_heads, self.num_kv_heads, self.head_dim);
        // (b, t, heads * hd) -> (b, heads, t, hd)
        let q = apply_linear(&self.q_proj, x.clone())
            .reshape([b, t, nh, hd])
            .swap_dims(1, 2);
        let k = apply_linear(&self.k_proj, x.clone())
            .reshape([b, t, nkv, hd])
            .swap_dims(1, 2);
        let v = apply_linear(&self.v_proj, x)
            .reshape([b, t, nkv, hd])
            .swap_dims(1, 2);
        let q = apply_rotary(q, rope.0, rope.1);
        let k = apply_rotary(k, rope.0, rope.1);
        let (k, v) = match cache {
            Some((cache, layer)) => cache.append(layer, k, v),
            None => (k, v),
        };
        let out = if mask.is_none() && causal::runs_here(&q) {
            causal::causal_attention(q, k, v)
        } else {
            let k = repeat_kv(k, nh / nkv);
            let v = repeat_kv(v, nh / nkv);
            let options = AttentionModuleOptions {
                // Bottom-right aligned: with a cache, query i sits at position cached + i.
                is_causal: mask.is_none() && t > 1,
                ..Default::default()
            };
            attention(q, k, v, mask, None, options)
        };
        // (b, heads, t, hd) -> (b, t, heads * hd)
        apply_linear(&self.o_proj, out.swap_dims(1, 2).reshape([b, t, nh * hd]))
    }
}

/// `(b, num_kv_heads, s, hd)` -> `(b, num_kv_heads * n_rep, s, hd)`, each kv head repeated for its group.
fn repeat_kv(x: Tensor<4>, n_rep: usize) -> Tensor<4> {
    if n_rep == 1 {
        return x;
    }
    let [b, h, s, d] = x.dims();
    x.unsqueeze_dim::<5>(2)
        .expand([b, h, n_rep, s, d])
        .reshape([b, h * n_rep, s, d])
}

/// SwiGLU feed-forward: `down(silu(gate(x)) * up(x))`.
#[derive(Module, Debug)]
pub struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

impl Mlp {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = apply_linear(&self.gate_proj, x.clone());
        let up = apply_linear(&self.up_proj, x);
        apply_linear(&self.down_proj, swiglu(gate, up))
    }
}

/// One pre-norm decoder block.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    pub self_attn: Attention,
    pub mlp: Mlp,
    pub input_layernorm: RmsNorm,
    pub post_attention_layernorm: RmsNorm,
}

/// The whole causal language model.
#[derive(Module, Debug)]
pub struct Llama {
    pub embed_tokens: Embedding,
    pub layers: Vec<DecoderLayer>,
    pub norm: RmsNorm,
    /// `None` when the head is tied to `embed_tokens`.
    pub lm_head: Option<Linear>,
    #[module(skip)]
    pub config: LlamaConfig,
    #[module(skip)]
    rope: Rope,
}

/// Inputs of one forward pass beyond the token ids.
#[derive(Default)]
pub struct ForwardOptions<'a> {
    /// `(batch, seq_len)`, 1 for real tokens and 0 for padding; `None` means all real.
    pub attention_mask: Option<&'a [Vec<u8>]>,
    /// Cache of earlier positions, extended by this pass.
    pub cache: Option<&'a mut KvCache>,
}

impl Llama {
    /// Assembles a model from its parts (the checkpoint loader and `init` use this).
    pub fn from_parts(
        config: LlamaConfig,
        embed_tokens: Embedding,
        layers: Vec<DecoderLayer>,
        norm: RmsNorm,
        lm_head: Option<Linear>,
    ) -> Self {
        let rope = Rope::new(&config);
        Self {
            embed_tokens,
            layers,
            norm,
            lm_head,
            config,
            rope,
        }
    }

    /// A model with freshly initialised weights, as transformers initialises LLaMA: normal with
    /// standard deviation `init_std` for embeddings and projections, ones for norms.
    pub fn init(config: &LlamaConfig, init_std: f64, device: &Device) -> Self {
        let normal = |shape: [usize; 2]| {
            Param::from_tensor(Tensor::<2>::random(
                shape,
                burn::tensor::Distribution::Normal(0.0, init_std),
                device,
            ))
        };
        // Burn's Linear stores (d_in, d_out).
        let proj = |d_in: usize, d_out: usize, bias: bool| Linear {
            weight: normal([d_in, d_out]),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([d_out], device))),
        };
        let rms = |d: usize| RmsNorm {
            gamma: Param::from_tensor(Tensor::ones([d], device)),
            epsilon: config.rms_norm_eps,
        };
        let (h, q, kv, ff) = (
            config.hidden_size,
            config.num_heads * config.head_dim,
            config.num_kv_heads * config.head_dim,
            config.intermediate_size,
        );
        let layers = (0..config.num_layers)
            .map(|_| DecoderLayer {
                self_attn: Attention {
                    q_proj: proj(h, q, config.attention_bias),
                    k_proj: proj(h, kv, config.attention_bias),
                    v_proj: proj(h, kv, config.attention_bias),
                    o_proj: proj(q, h, config.attention_bias),
                    num_heads: config.num_heads,
                    num_kv_heads: config.num_kv_heads,
                    head_dim: config.head_dim,
                },
                mlp: Mlp {
                    gate_proj: proj(h, ff, config.mlp_bias),
                    up_proj: proj(h, ff, config.mlp_bias),
                    down_proj: proj(ff, h, config.mlp_bias),
                },
                input_layernorm: rms(h),
                post_attention_layernorm: rms(h),
            })
            .collect();
        let lm_head = (!config.tie_word_embeddings).then(|| proj(h, config.vocab_size, false));
        Self::from_parts(
            config.clone(),
            Embedding {
                weight: normal([config.vocab_size, h]),
            },
            layers,
            rms(h),
            lm_head,
        )
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.embed_tokens.weight.val().device()
    }

    /// Final hidden states `(batch, seq_len, hidden)` for `input_ids` `(batch, seq_len)`.
    pub fn hidden_states(&self, input_ids: Tensor<2, Int>, options: ForwardOptions) -> Tensor<3> {
        let device = input_ids.device();
        let [b, t] = input_ids.dims();
        let start = options.cache.as_ref().map_or(0, |c| c.len());
        let (cos, sin) = self.rope.tables(start, t, &device);
        let mask = options
            .attention_mask
            .map(|m| self.padding_mask(m, start, t, &device));
        let mut cache = options.cache;
        let mut x = self.embed_tokens.forward(input_ids);
        for (i, layer) in self.layers.iter().enumerate() {
            let residual = x.clone();
            let h = layer.self_attn.forward(
                rms_norm(&layer.input_layernorm, x),
                (&cos, &sin),
                mask.clone(),
                cache.as_deref_mut().map(|c| (c, i)),
            );
            let x_mid = residual + h;
            x = x_mid.clone()
                + layer
                    .mlp
                    .forward(rms_norm(&layer.post_attention_layernorm, x_mid));
        }
        if let Some(cache) = cache {
            cache.advance(t);
        }
        debug_assert_eq!(x.dims()[0], b);
        rms_norm(&self.norm, x)
    }

    /// Logits `(batch, seq_len, vocab)` for every position.
    pub fn forward(&self, input_ids: Tensor<2, Int>, options: ForwardOptions) -> Tensor<3> {
        let hidden = self.hidden_states(input_ids, options);
        self.lm_head_forward(hidden)
    }

    /// Logits `(batch, vocab)` of the last position only: all that decoding needs.
    pub fn forward_last(&self, input_ids: Tensor<2, Int>, options: ForwardOptions) -> Tensor<2> {
        let hidden = self.hidden_states(input_ids, options);
        let [b, t, _] = hidden.dims();
        let last = hidden.slice(s![.., t - 1..t, ..]);
        self.lm_head_forward(last)
            .reshape([b, self.config.vocab_size])
    }

    /// Log-probabilities of chosen next tokens: for each `(row, position, token)`, the model's
    /// log-probability of `token` after `input_ids[row][..=position]`. Only the needed positions
    /// go through the LM head, so scoring a long prompt's answer costs one forward pass.
    pub fn next_token_log_probs(
        &self,
        input_ids: Tensor<2, Int>,
        picks: &[(usize, usize, u32)],
    ) -> Tensor<1> {
        let device = input_ids.device();
        let [b, t] = input_ids.dims();
        let hidden = self.hidden_states(
            input_ids,
            ForwardOptions {
                attention_mask: None,
                cache: None,
            },
        );
        let h = self.config.hidden_size;
        let flat: Vec<i64> = picks.iter().map(|&(r, p, _)| (r * t + p) as i64).collect();
        let n = picks.len();
        let rows = hidden.reshape([b * t, h]).select(
            0,
            Tensor::<1, Int>::from_data(TensorData::new(flat, [n]), &device),
        );
        let logits = self
            .lm_head_forward(rows.reshape([1, n, h]))
            .reshape([n, self.config.vocab_size]);
        let log_probs = log_softmax(logits, 1);
        let targets: Vec<i64> = picks.iter().map(|&(_, _, tok)| tok as i64).collect();
        log_probs
            .gather(
                1,
                Tensor::<2, Int>::from_data(TensorData::new(targets, [n, 1]), &device),
            )
            .reshape([n])
    }

    fn lm_head_forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(head) => apply_linear(head, hidden),
            None => project(hidden, self.embed_tokens.weight.val().transpose()),
        }
    }

    /// `true` where attention is forbidden: future positions and padded keys.
    fn padding_mask(
        &self,
        mask: &[Vec<u8>],
        start: usize,
        t: usize,
        device: &Device,
    ) -> Tensor<4, Bool> {
        let b = mask.len();
        let s = start + t;
        let mut out = Vec::with_capacity(b * t * s);
        for row in mask {
            for i in 0..t {
                for j in 0..s {
                    let future = j > start + i;
                    let padded = row.get(j).is_some_and(|&m| m == 0);
                    out.push(future || padded);
                }
            }
        }
        Tensor::<4, Bool>::from_data(TensorData::new(out, [b, 1, t, s]), device).expand([
            b,
            self.config.num_heads,
            t,
            s,
        ])
    }
}

/// Mean next-token cross-entropy over the labels that are not [`IGNORE_INDEX`], with labels
/// shifted inside (position `i` predicts label `i + 1`), as `LlamaForCausalLM` computes its loss.
/// Returns the loss and the number of predicted tokens.
pub fn causal_lm_loss(logits: Tensor<3>, labels: &[Vec<i64>]) -> (Tensor<1>, usize) {
    let (nll, count) = token_nll(logits, labels);
    (mean_over(nll, count), count)
}

/// Negative log-likelihood of every shifted label, zero where ignored: `(batch * (seq_len - 1))`,
/// and the number of labels that count.
pub fn token_nll(logits: Tensor<3>, labels: &[Vec<i64>]) -> (Tensor<1>, usize) {
    let [b, t, v] = logits.dims();
    let logits = logits.slice(s![.., 0..t - 1, ..]).reshape([b * (t - 1), v]);
    shifted_nll(logits, labels, t)
}

fn mean_over(nll: Tensor<1>, count: usize) -> Tensor<1> {
    nll.sum().div_scalar(count.max(1) as f32)
}

/// `logits` `(batch * (t - 1), vocab)` predict `labels[row][1..t]`: their negative
/// log-likelihoods, zero where the label is ignored, and how many count.
fn shifted_nll(logits: Tensor<2>, labels: &[Vec<i64>], t: usize) -> (Tensor<1>, usize) {
    let device = logits.device();
    let n = logits.dims()[0];
    let (targets, weights, count) = shifted_targets(labels, t);
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [n]), &device);
    let weights = Tensor::<1>::from_data(TensorData::new(weights, [n]), &device);
    (cross_entropy(logits, targets) * weights, count)
}

/// The targets of positions `0..t - 1` of every row (`labels[row][1..t]`, ignored ones as 0),
/// their weights (1, or 0 where ignored) and how many count.
fn shifted_targets(labels: &[Vec<i64>], t: usize) -> (Vec<i64>, Vec<f32>, usize) {
    let mut targets = Vec::with_capacity(labels.len() * t.saturating_sub(1));
    let mut weights = Vec::with_capacity(targets.capacity());
    for row in labels {
        for &label in &row[1..t] {
            let keep = label != IGNORE_INDEX;
            targets.push(if keep { label } else { 0 });
            weights.push(if keep { 1.0f32 } else { 0.0 });
        }
    }
    let count = weights.iter().filter(|&&w| w > 0.0).count();
    (targets, weights, count)
}

impl Llama {
    /// [`token_nll`] of the model's own logits, with the LM head run only on the positions that
    /// predict a label, as one matrix product over all rows.
    pub fn token_nll(
        &self,
        input_ids: Tensor<2, Int>,
        options: ForwardOptions,
        labels: &[Vec<i64>],
    ) -> (Tensor<1>, usize) {
        let hidden = self.hidden_states(input_ids, options);
        let [b, t, h] = hidden.dims();
        let rows = hidden
            .slice(s![.., 0..t - 1, ..])
            .reshape([1, b * (t - 1), h]);
        let logits = self
            .lm_head_forward(rows)
            .reshape([b * (t - 1), self.config.vocab_size]);
        shifted_nll(logits, labels, t)
    }

    /// [`causal_lm_loss`] of the model's own logits, with the head and the loss run together a
    /// chunk of rows at a time ([`weighted_nll_sum`]): the `(tokens, vocab)` logits are never
    /// held whole, in training either.
    pub fn causal_lm_loss(
        &self,
        input_ids: Tensor<2, Int>,
        options: ForwardOptions,
        labels: &[Vec<i64>],
    ) -> (Tensor<1>, usize) {
        let Some(head) = self.head_matrix() else {
            let (nll, count) = self.token_nll(input_ids, options, labels);
            return (mean_over(nll, count), count);
        };
        let hidden = self.hidden_states(input_ids, options);
        let [b, t, h] = hidden.dims();
        let rows = hidden.slice(s![.., 0..t - 1, ..]).reshape([b * (t - 1), h]);
        let (targets, weights, count) = shifted_targets(labels, t);
        let mean: Vec<f32> = weights.iter().map(|w| w / count.max(1) as f32).collect();
        (weighted_nll_sum(rows, head, &targets, &mean), count)
    }

    /// The head as one `(hidden, vocab)` matrix: the head's weight, or the embedding's transpose
    /// when they are tied; `None` for a head with a bias.
    fn head_matrix(&self) -> Option<Tensor<2>> {
        match &self.lm_head {
            Some(head) if head.bias.is_some() => None,
            Some(head) => Some(head.weight.val()),
            None => Some(self.embed_tokens.weight.val().transpose()),
        }
    }
}
