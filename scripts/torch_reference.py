#!/usr/bin/env python3
"""PyTorch + HF transformers reference timings for a LLaMA configuration, to set beside the project's own.

It builds LlamaForCausalLM from a preset (or an HF model directory), random weights, and times on the same
machine: a training step (forward + backward + AdamW) and a forward pass, in tokens per second, and greedy
decoding with the KV cache, in new tokens per second. Prints one JSON object.

  python3 scripts/torch_reference.py --preset tiny [--device cpu|cuda] [--threads N] [--steps 5]
  python3 scripts/torch_reference.py --model-dir path/to/hf-checkpoint

`beyond bench` runs it in the same invocation as its own timings and prints the ratio.

Needs: pip install torch transformers safetensors
"""
import argparse, json, os, time

PRESETS = {
    # name: (hidden, intermediate, layers, heads, kv_heads, vocab, batch, seq)
    "nano":  (64, 176, 2, 4, 2, 32000, 4, 128),
    "tiny":  (256, 688, 4, 8, 8, 32000, 8, 256),
    "small": (512, 1376, 8, 8, 8, 32000, 4, 512),
    "base":  (768, 2048, 12, 12, 12, 32000, 8, 1024),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--model-dir")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--new-tokens", type=int, default=64)
    a = ap.parse_args()

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    h, ff, layers, heads, kv, vocab, batch, seq = PRESETS[a.preset]
    if a.model_dir:
        model = LlamaForCausalLM.from_pretrained(a.model_dir, dtype=torch.float32)
        vocab = model.config.vocab_size
    else:
        cfg = LlamaConfig(hidden_size=h, intermediate_size=ff, num_hidden_layers=layers, num_attention_heads=heads,
                          num_key_value_heads=kv, vocab_size=vocab, max_position_embeddings=max(seq, 2048))
        model = LlamaForCausalLM(cfg)
    model.to(a.device)
    params = sum(p.numel() for p in model.parameters())
    x = torch.randint(3, vocab, (batch, seq), device=a.device)
    sync = (lambda: torch.cuda.synchronize()) if a.device.startswith("cuda") else (lambda: None)

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()

    train_step(); sync()  # warm-up
    t = time.perf_counter()
    for _ in range(a.steps):
        train_step()
    sync()
    train_s = (time.perf_counter() - t) / a.steps

    model.eval()
    with torch.no_grad():
        model(input_ids=x); sync()
        t = time.perf_counter()
        for _ in range(a.steps):
            model(input_ids=x)
        sync()
        fwd_s = (time.perf_counter() - t) / a.steps
        prompt = x[:1, :16]
        model.generate(prompt, max_new_tokens=4, do_sample=False, min_new_tokens=4); sync()
        t = time.perf_counter()
        model.generate(prompt, max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, do_sample=False)
        sync()
        gen_s = time.perf_counter() - t

    print(json.dumps({
        "engine": f"torch {torch.__version__}", "device": a.device, "threads": a.threads,
        "preset": None if a.model_dir else a.preset, "params": params, "batch": batch, "seq": seq,
        "train_tokens_per_s": batch * seq / train_s, "forward_tokens_per_s": batch * seq / fwd_s,
        "decode_tokens_per_s": a.new_tokens / gen_s,
    }))


if __name__ == "__main__":
    main()
