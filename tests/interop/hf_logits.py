#!/usr/bin/env python3
"""Loads a checkpoint directory with transformers and writes its float32 logits for the given ids.

    python3 hf_logits.py MODEL_DIR OUT.json 1,2,3

Used by tests/hf_interop.rs to prove that transformers reads what beyond writes.
"""
import json
import sys

import torch
from transformers import AutoModelForCausalLM

model_dir, out, ids = sys.argv[1], sys.argv[2], [int(i) for i in sys.argv[3].split(",")]
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
model.eval()
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0]
with open(out, "w") as f:
    json.dump({"shape": list(logits.shape), "logits": logits.flatten().tolist()}, f)
