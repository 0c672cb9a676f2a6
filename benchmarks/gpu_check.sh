#!/usr/bin/env bash
# The GPU check: run it whenever a session is lent a GPU, and record its summary in docs/benchmarks.md with the date
# and the GPU's name. One GPU, about 8 minutes (3 steps, each with its own time limit):
#   1. the suite's CUDA tests (pytest -m cuda: bf16 step, fp16 + GradScaler step, 1-process NCCL DDP step,
#      MODEL.COMPILE end to end, activation checkpointing with identical gradients, fused SDPA kernels);
#   2. bf16 clips/s of Hiera B / L / H, ours vs official, and MViTv2-L (benchmarks/compare_peers.py, batch 8);
#   3. time and peak memory of a B and an L training step, bf16, with and without activation checkpointing
#      (benchmarks/train_step.py, batch 8).
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR]   (logs and JSON go to OUT_DIR, default gpu_check_out/)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu_check_out}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
status=0
echo "== GPU" | tee "$out/summary.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$out/summary.txt"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/summary.txt"

echo "== 1. CUDA tests" | tee -a "$out/summary.txt"
timeout 240 python -m pytest -q -m cuda tests/test_cuda.py -p no:cacheprovider > "$out/tests.log" 2>&1 || status=1
tail -n 3 "$out/tests.log" | tee -a "$out/summary.txt"

echo "== 2. clips/s, bf16, batch 8 (16x224)" | tee -a "$out/summary.txt"
timeout 180 python benchmarks/compare_peers.py --device cuda --batch-size 8 --iters 10 --warmup 3 --no-flops \
  --models ours_B,official_B,ours_L,official_L,ours_H,official_H,mvit_v2_l > "$out/peers.log" 2>&1 || status=1
grep -E "^\||/" "$out/peers.log" | tee -a "$out/summary.txt"

echo "== 3. training step, bf16, batch 8: time and peak memory with / without activation checkpointing" \
  | tee -a "$out/summary.txt"
timeout 150 python benchmarks/train_step.py --device cuda --dtype bfloat16 --models base,large --batch 8 \
  --steps 5 --warmup 2 --json "$out/train_step.json" > "$out/train_step.log" 2>&1 || status=1
tail -n 12 "$out/train_step.log" | tee -a "$out/summary.txt"
echo "== status $status (0: every step finished)" | tee -a "$out/summary.txt"
exit $status
