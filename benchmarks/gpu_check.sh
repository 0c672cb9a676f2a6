#!/usr/bin/env bash
# The GPU check: run it whenever a session is lent a GPU, and record its summary in docs/benchmarks.md with the date
# and the GPU's name. One GPU, at most 8 minutes (3 steps, each with its own time limit, 480 s in all):
#   1. the suite's CUDA tests (pytest -m cuda, tests/test_cuda.py): NCCL with the project's collective helpers,
#      TRAIN.PRECISION auto, our train_epoch in fp16 with the GradScaler (overflowing steps skipped, EMA spared),
#      the real loops of tools/run_net.py for TASK classification, mae and detection with MODEL.EMA,
#      TRAIN.GRAD_ACCUM_STEPS 2, MODEL.COMPILE (inductor) + MODEL.ACT_CHECKPOINT, each resumed from its epoch-1
#      checkpoint, activation checkpointing's gradients, the fused SDPA kernels; with 2 or more GPUs also a 2-process
#      torchrun (NCCL) MAE and detection run;
#   2. bf16 clips/s of Hiera B / L / H, ours vs official, and MViTv2-L (benchmarks/compare_peers.py, batch 8);
#   3. time and peak memory of a B and an L training step, bf16, with and without activation checkpointing
#      (benchmarks/train_step.py, batch 8).
# Without CUDA (any CPU machine, about a minute) the CUDA tests skip and steps 2 and 3 run the same scripts as a CPU
# smoke check of their commands (B, official B and MViTv2-L at batch 1; narrowed tiny models for the training step):
# their figures are not GPU figures. tests/test_gpu_check.py runs it so, so that a GPU session never finds it broken.
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR]   (logs and JSON go to OUT_DIR, default gpu_check_out/)
# Exit status: 0 when every step finished, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu_check_out}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
status=0
say() { echo "$@" | tee -a "$out/summary.txt"; }
: > "$out/summary.txt"
if python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  cuda=1
  say "== GPU"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$out/summary.txt"
else
  cuda=0
  say "== no CUDA device: the CUDA tests skip; steps 2 and 3 are a CPU smoke check (not GPU figures)"
fi
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/summary.txt"

say "== 1. CUDA tests"
timeout 280 python -m pytest -q -m cuda tests/test_cuda.py -p no:cacheprovider -ra --durations 5 > "$out/tests.log" 2>&1 \
  || status=1
grep -E "^(FAILED|ERROR|SKIPPED)|[0-9]+ (passed|failed|skipped|error)|s call " "$out/tests.log" | tail -n 20 | tee -a "$out/summary.txt"

if [ "$cuda" = 1 ]; then
  head2="== 2. clips/s, bf16, batch 8 (16x224)"
  peers=(--device cuda --batch-size 8 --iters 6 --warmup 2
         --models ours_B,official_B,ours_L,official_L,ours_H,official_H,mvit_v2_l)
  head3="== 3. training step, bf16, batch 8: time and peak memory with / without activation checkpointing"
  train=(--device cuda --dtype bfloat16 --models base,large --batch 8 --steps 4 --warmup 1)
else
  head2="== 2. clips/s, CPU fp32, batch 1 (smoke)"
  peers=(--device cpu --batch-size 1 --iters 1 --warmup 0 --models ours_B,official_B,mvit_v2_l)
  head3="== 3. training step, CPU fp32, narrowed tiny models (smoke)"
  train=(--device cpu --models tiny --quick --steps 1 --warmup 0)
fi

say "$head2"
timeout 110 python benchmarks/compare_peers.py "${peers[@]}" --no-flops > "$out/peers.log" 2>&1 || status=1
grep -E "^\||^[A-Za-z0-9_]+ / [A-Za-z0-9_]+:" "$out/peers.log" | tee -a "$out/summary.txt"

say "$head3"
timeout 90 python benchmarks/train_step.py "${train[@]}" --json "$out/train_step.json" > "$out/train_step.log" 2>&1 \
  || status=1
tail -n 12 "$out/train_step.log" | tee -a "$out/summary.txt"
say "== status $status (0: every step finished)"
exit $status
