#!/usr/bin/env bash
# Figures on an NVIDIA GPU: the device check, then training, forward and decoding speed for the
# given presets beside PyTorch on CUDA (eager, float32) in the same invocation, with each
# process's peak GPU memory as nvidia-smi reports it.
#
#   scripts/gpu-bench.sh [BEYOND] [OUT] [PRESETS] [ROUNDS]
#
# BEYOND: the beyond binary (default: target/release/beyond); OUT: where results go (default:
# gpu-bench-out); PRESETS: space-separated (default: "small base"); ROUNDS: default 3.
# Each step is bounded in time so that what finished is kept even if a later step hangs. On an
# H200 with empty caches, `small` took 215 s and `base` needs more than 300: the first round
# compiles and autotunes every kernel (about 150 s for `base`), so give the script 15 minutes.
set -uo pipefail

bin=${1:-target/release/beyond}
out=${2:-gpu-bench-out}
presets=${3:-small base}
rounds=${4:-3}
mkdir -p "$out"
out=$(cd "$out" && pwd)

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv \
    | tee "$out/gpu.csv"

echo "== device check"
timeout 120 "$bin" doctor --device vulkan --json >"$out/doctor.json" 2>"$out/doctor.err"
echo "doctor exit $?"
head -c 1500 "$out/doctor.json"; echo; tail -3 "$out/doctor.err"

# The GPU's memory in use, sampled every 100 ms with whether PyTorch's process was running then
# (containers often hide the per-process list): beyond's peak is the largest reading while
# PyTorch was not running; PyTorch's own peak comes from its allocator (sitecustomize below).
sample_memory() {
    while true; do
        used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
        torch=0; pgrep -f 'python[^ ]* [^ ]*torch_reference' >/dev/null && torch=1
        echo "$used,$torch"
        sleep 0.1
    done
}
site=$(mktemp -d)
cat >"$site/sitecustomize.py" <<'PY'
import atexit, os, sys
def _peak():
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        with open(os.environ["BEYOND_TORCH_PEAK"], "a") as f:
            f.write(f"{torch.cuda.max_memory_allocated()},{torch.cuda.max_memory_reserved()}\n")
atexit.register(_peak)
PY
idle=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
echo "GPU memory in use before: $idle MiB"

for preset in $presets; do
    echo "== $preset: beyond (wgpu on Vulkan) then torch (CUDA), $rounds rounds"
    start=$(date +%s)
    sample_memory >"$out/gpu-memory-$preset.csv" 2>/dev/null &
    sampler=$!
    BEYOND_TORCH_PEAK="$out/torch-peak-$preset.csv" PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" \
    timeout 600 "$bin" bench train --preset "$preset" --device vulkan --rounds "$rounds" \
        --torch-reference scripts/torch_reference.py --json \
        >"$out/bench-$preset.json" 2>"$out/bench-$preset.err"
    echo "exit $? after $(($(date +%s) - start)) s"
    kill "$sampler" 2>/dev/null
    tail -3 "$out/bench-$preset.err"
done

python3 - "$out" "$idle" $presets <<'EOF'
import json, os, sys
out, idle, presets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for preset in presets:
    ours = 0
    for line in open(os.path.join(out, f"gpu-memory-{preset}.csv")):
        parts = line.strip().split(",")
        if len(parts) == 2 and parts[0].isdigit() and parts[1] == "0":
            ours = max(ours, int(parts[0]) - idle)
    print(f"{preset} beyond peak GPU memory: {ours} MiB (in use while PyTorch was not running, less the {idle} MiB before)")
    try:
        rows = [list(map(int, l.split(","))) for l in open(os.path.join(out, f"torch-peak-{preset}.csv"))]
        print(f"{preset} torch peak GPU memory: allocated {max(r[0] for r in rows) / 2**20:.0f} MiB, reserved {max(r[1] for r in rows) / 2**20:.0f} MiB")
    except Exception as e:
        print(preset, "no torch memory:", e)
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
