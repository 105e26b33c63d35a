"""Makes tests/fixtures/tiny-llama-a-lora: a PEFT LoRA adapter for tests/fixtures/tiny-llama-a,
with non-zero factors and a replaced head, and the logits of the merged model as PEFT computes
them. The model loader must merge it to the same logits.

    pip install torch transformers peft
    python scripts/make_lora_fixture.py
"""

import json
import pathlib

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

root = pathlib.Path(__file__).resolve().parent.parent
base_dir = root / "tests/fixtures/tiny-llama-a"
out = root / "tests/fixtures/tiny-llama-a-lora"

torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
config = LoraConfig(
    r=4,
    lora_alpha=12,
    target_modules=["q_proj", "v_proj", "down_proj"],
    modules_to_save=["lm_head"],
    alpha_pattern={"down_proj": 6},
)
peft_model = get_peft_model(model, config)
with torch.no_grad():
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            param.normal_(0.0, 0.05)
        if "modules_to_save" in name and "lm_head" in name:
            param.add_(torch.randn_like(param) * 0.02)
readme = (out / "README.md").read_text() if (out / "README.md").exists() else None
peft_model.save_pretrained(out)
if readme is not None:  # PEFT writes a model card over ours.
    (out / "README.md").write_text(readme)

# The base is found relative to the adapter, as when LLaMA-Factory ran beside it.
adapter_config = json.loads((out / "adapter_config.json").read_text())
adapter_config["base_model_name_or_path"] = "../tiny-llama-a"
(out / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2) + "\n")

ids = [1, 450, 4996, 17354, 1701, 29916, 432, 17204]
with torch.no_grad():
    logits = peft_model(torch.tensor([ids])).logits[0].float()
save_file({"logits": logits.contiguous()}, out / "reference.safetensors")
(out / "reference.json").write_text(json.dumps({"ids": ids, "atol": 1e-4}, indent=2) + "\n")
print("wrote", out)
