#!/usr/bin/env bash
# Figures on an NVIDIA GPU: the device check, then training, forward and decoding speed for the
# given presets beside PyTorch on CUDA (eager, float32) in the same invocation, with each
# process's peak GPU memory as nvidia-smi reports it.
#
#   scripts/gpu-bench.sh [BEYOND] [OUT] [PRESETS] [ROUNDS]
#
# BEYOND: the beyond binary (default: target/release/beyond); OUT: where results go (default:
# gpu-bench-out); PRESETS: space-separated (default: "small base"); ROUNDS: default 3.
# Each step is bounded in time so that what finished is kept even if a later step hangs.
set -uo pipefail

bin=${1:-target/release/beyond}
out=${2:-gpu-bench-out}
presets=${3:-small base}
rounds=${4:-3}
mkdir -p "$out"

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv \
    | tee "$out/gpu.csv"

echo "== device check"
timeout 120 "$bin" doctor --device vulkan --json >"$out/doctor.json" 2>"$out/doctor.err"
echo "doctor exit $?"
head -c 1500 "$out/doctor.json"; echo; tail -3 "$out/doctor.err"

# Each compute process's GPU memory, sampled every 100 ms (pid, name, MiB).
(while true; do
    nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader,nounits
    sleep 0.1
done) >"$out/gpu-memory.csv" 2>/dev/null &
sampler=$!

for preset in $presets; do
    echo "== $preset: beyond (wgpu on Vulkan) then torch (CUDA), $rounds rounds"
    start=$(date +%s)
    timeout 300 "$bin" bench train --preset "$preset" --device vulkan --rounds "$rounds" \
        --torch-reference scripts/torch_reference.py --json \
        >"$out/bench-$preset.json" 2>"$out/bench-$preset.err"
    echo "exit $? after $(($(date +%s) - start)) s"
    tail -3 "$out/bench-$preset.err"
done
kill "$sampler" 2>/dev/null

python3 - "$out" $presets <<'EOF'
import collections, json, os, sys
out, presets = sys.argv[1], sys.argv[2:]
peak = collections.defaultdict(int)
for line in open(os.path.join(out, "gpu-memory.csv")):
    parts = [p.strip() for p in line.split(",")]
    if len(parts) == 3 and parts[2].isdigit():
        peak[(parts[0], os.path.basename(parts[1]))] = max(peak[(parts[0], os.path.basename(parts[1]))], int(parts[2]))
print("peak GPU memory per process (MiB):", dict((f"{n}:{p}", m) for (p, n), m in peak.items()))
for preset in presets:
    try:
        s = json.load(open(os.path.join(out, f"bench-{preset}.json")))
    except Exception as e:
        print(preset, "no result:", e)
        continue
    for i, r in enumerate(s["rounds"]):
        b, t = r["beyond"], r.get("torch") or {}
        print(f"{preset} round {i+1}: beyond train {b.get('train_tokens_per_s') or 0:.0f} fwd {b['forward_tokens_per_s']:.0f} "
              f"decode {b['decode_tokens_per_s']:.1f} | torch train {t.get('train_tokens_per_s') or 0:.0f} "
              f"fwd {t.get('forward_tokens_per_s') or 0:.0f} decode {t.get('decode_tokens_per_s') or 0:.1f}")
    for k in ("train_ratio", "forward_ratio", "decode_ratio"):
        print(f"{preset} {k}: {s.get(k)}")
EOF
