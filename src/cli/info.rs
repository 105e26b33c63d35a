//! `beyond info`: what a model directory holds.

use clap::Args;

use super::ModelArg;
use beyond::model::loaded::describe;

#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub model: ModelArg,
    #[command(flatten)]
    pub common: super::Common,
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let info = describe(&args.model.model)?;
    if args.common.json {
        return super::print_json(&info);
    }
    let a = &info.architecture;
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    println!("model        {}", info.source.display());
    println!(
        "architecture LLaMA: {} layers, hidden {}, ffn {}, {} heads / {} kv heads (head_dim {}), vocab {}",
        a.num_layers,
        a.hidden_size,
        a.intermediate_size,
        a.num_heads,
        a.num_kv_heads,
        a.head_dim,
        a.vocab_size
    );
    println!(
        "             context {}, rope theta {}, {:?}, head {}",
        a.max_position_embeddings,
        a.rope_theta,
        a.rope_scaling,
        if a.tie_word_embeddings {
            "tied"
        } else {
            "untied"
        }
    );
    println!(
        "parameters   {} ({:.2} M)",
        info.parameters,
        info.parameters as f64 / 1e6
    );
    match info.dtype_on_disk {
        Some(d) => println!("on disk      {d}, {:.1} MiB", mib(info.bytes_on_disk)),
        None => println!("on disk      {:.1} MiB", mib(info.bytes_on_disk)),
    }
    println!(
        "memory       {:.1} MiB of f32 weights; KV cache {:.1} MiB per sequence at full context",
        mib(info.memory_f32_bytes),
        mib(info.kv_cache_bytes_full_context)
    );
    match &info.tokenizer {
        Some(t) => println!(
            "tokenizer    {} ({}, {} tokens, bos {:?}, eos {:?})",
            t.path.display(),
            t.kind,
            t.vocab_size,
            t.bos_id,
            t.eos_ids
        ),
        None => println!("tokenizer    none (no tokenizer.json)"),
    }
    Ok(())
}
