#!/usr/bin/env bash
# GPU benchmark of captionsite (issue 13), prepared for a CUDA machine with this repository checked out.
# Not run by CI. About 8 minutes at most; every step has its own time limit.
#
#   bash scripts/gpu_bench.sh                 # writes into $OUT (default ./gpu-bench-out) and stdout
#   PYTHON=.venv/bin/python bash scripts/gpu_bench.sh
#
# Steps:
#  1. dependencies: uses $PYTHON if it imports torch with CUDA, transformers and Django; otherwise
#     tries `pip install -r requirements.txt` (needs PyPI; the default torch wheel on Linux is a CUDA build).
#  2. builds the random-weight BLIP-base captioning model (benchmarks.bench.save_random_blip_base; the
#     published config when /work/shared/fixtures/blip-image-captioning-base or $BLIP_CONFIG has it).
#  3. Captioner.caption in bf16 on CUDA with batches of 64..512 over 2048 pre-sized images, greedy,
#     20 new tokens: images/s (target >= 1,500) and where the time goes (preprocess vs generate).
#  4. the worker path: manage.py benchmark --worker-path on 64 synthetic photos, CAPTION_BATCH_SIZE=64,
#     with PostgreSQL when initdb/pg_ctl are installed (a throwaway cluster in a temp folder), else SQLite.
#  5. every registry model at its published shape with random weights (python -m benchmarks.bench_models
#     --device cuda --dtypes bfloat16): parameters, load time, s/image, tokens/s, peak VRAM
#     (torch.cuda.max_memory_allocated) -> $OUT/models_cuda.json and models_cuda.md.
#
#   GPU_BENCH_ONLY=models bash scripts/gpu_bench.sh   # step 5 alone (about 5-8 minutes on one large GPU)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-bench-out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
LOG="$OUT/gpu_bench.log"
exec > >(tee -a "$LOG") 2>&1
started=$(date +%s)
echo "# gpu_bench.sh $(date -u +%FT%TZ) on $(hostname); $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'nvidia-smi missing')"

# 1. dependencies
if ! timeout 60 "$PY" -c "import torch, transformers, django; assert torch.cuda.is_available()" 2>/dev/null; then
  echo "## installing requirements.txt (no usable torch+CUDA / transformers / Django in $PY)"
  timeout 200 "$PY" -m pip install -q -r requirements.txt || echo "pip install failed (no network?)"
fi
if ! timeout 60 "$PY" -c "import torch, transformers, django; assert torch.cuda.is_available()"; then
  echo "FAILED: $PY has no torch with CUDA, transformers and Django; nothing measured." ; exit 2
fi
"$PY" -c "import torch, transformers; print('# torch', torch.__version__, 'CUDA', torch.version.cuda, '| transformers', transformers.__version__, '|', torch.cuda.get_device_name(0))"

# 5. every registry model, real shapes, random weights (run alone with GPU_BENCH_ONLY=models)
models_bench() {
  timeout "${MODELS_TIMEOUT:-540}" "$PY" -m benchmarks.bench_models --device cuda --dtypes bfloat16 --max-weights-gib 60 \
      --images 4 --rounds 2 --timeout 240 --json "$OUT/models_cuda.json" --markdown "$OUT/models_cuda.md" \
    || echo "step 5 failed or ran out of time (models_cuda.json holds the rows measured so far)"
}
if [ "${GPU_BENCH_ONLY:-}" = models ]; then models_bench; echo "# done in $(( $(date +%s) - started )) s; results in $OUT"; exit 0; fi

# 2. the random-weight BLIP-base
MODEL_DIR="${MODEL_DIR:-/tmp/captionsite-blip-base-random}"
BLIP_CONFIG="${BLIP_CONFIG:-}"
[ -z "$BLIP_CONFIG" ] && [ -f /work/shared/fixtures/blip-image-captioning-base/config.json ] && BLIP_CONFIG=/work/shared/fixtures/blip-image-captioning-base
[ -z "$BLIP_CONFIG" ] && [ -f shared/fixtures/blip-image-captioning-base/config.json ] && BLIP_CONFIG=shared/fixtures/blip-image-captioning-base
if [ ! -f "$MODEL_DIR/config.json" ]; then
  timeout 120 "$PY" -c "import sys; from benchmarks.bench import save_random_blip_base; save_random_blip_base(sys.argv[1], sys.argv[2] or None)" "$MODEL_DIR" "$BLIP_CONFIG" \
    || { echo "FAILED: could not build the random BLIP-base"; exit 3; }
fi
echo "# model: random-weight BLIP-base in $MODEL_DIR (config: ${BLIP_CONFIG:-BlipConfig defaults})"

# 3. Captioner.caption, bf16, large batches
timeout 240 "$PY" - "$MODEL_DIR" "$OUT/caption_bf16.json" <<'PYEOF' || echo "step 3 failed or ran out of time"
import json, sys, time
import torch
import mlcore
from benchmarks.testing import make_test_images

folder, out_path = sys.argv[1], sys.argv[2]
params = mlcore.GenerationParams(num_beams=1, max_length=20, min_length=20, num_alternatives=1)
base = make_test_images(64, size=(384, 384), seed=1)            # pre-sized: the worker decodes to ~384 px
images = [base[i % len(base)] for i in range(2048)]
rows = []
for batch in (64, 128, 256, 512):
    cap = mlcore.load_captioner(folder, device="cuda", dtype="bfloat16", max_batch_size=batch)
    cap.caption(images[:batch], params)                           # warm-up (kernels, allocator)
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    res = cap.caption(images, params)
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    pre = sum(r.timings.get("preprocess_ms", 0) for r in res) / 1000
    gen = sum(r.timings.get("generate_ms", 0) for r in res) / 1000
    row = {"batch": batch, "images": len(images), "img_s": len(images) / wall, "wall_s": wall,
           "preprocess_s": pre, "generate_s": gen, "other_s": wall - pre - gen,
           "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20}
    rows.append(row)
    print(f"caption bf16 batch {batch:>3}: {row['img_s']:8.1f} img/s  (of {wall:.2f} s: preprocess {pre:.2f} s on the CPU, "
          f"generate {gen:.2f} s, rest {row['other_s']:.2f} s; peak GPU {row['peak_gpu_mib']:.0f} MiB)", flush=True)
best = max(rows, key=lambda r: r["img_s"])
print(f"best: {best['img_s']:.1f} img/s at batch {best['batch']} (target >= 1500)")
json.dump({"device": torch.cuda.get_device_name(0), "rows": rows}, open(out_path, "w"), indent=2)
PYEOF

# 4. the worker path (PostgreSQL when available)
elapsed=$(( $(date +%s) - started ))
budget=$(( 470 - elapsed ))
if [ "$budget" -lt 60 ]; then echo "skipping the worker path: ${elapsed}s used"; models_bench; exit 0; fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)
PGDIR=""
if [ -z "${DATABASE_URL:-}" ] && { command -v initdb >/dev/null || [ -n "$PGBIN" ]; }; then
  export PATH="${PGBIN:+$PGBIN:}$PATH"
  PGDIR=$(mktemp -d /tmp/captionsite-pg.XXXX); chmod 755 "$PGDIR"
  PGUSER_RUN=""; [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd -r postgres 2>/dev/null; chown postgres "$PGDIR"; PGUSER_RUN="runuser -u postgres --"; }
  if timeout 60 $PGUSER_RUN initdb -D "$PGDIR/data" -A trust -U captionsite >/dev/null \
     && timeout 30 $PGUSER_RUN pg_ctl -D "$PGDIR/data" -o "-k $PGDIR -p 54329 -c listen_addresses=127.0.0.1" -l "$PGDIR/log" -w start >/dev/null; then
    timeout 20 createdb -h 127.0.0.1 -p 54329 -U captionsite captionsite
    export DATABASE_URL="postgres://captionsite@127.0.0.1:54329/captionsite"
  else
    echo "PostgreSQL could not be started; using SQLite"; PGDIR=""
  fi
fi
echo "# worker path database: ${DATABASE_URL:-SQLite (VAR_DIR)}"
export VAR_DIR="${VAR_DIR:-$(mktemp -d /tmp/captionsite-var.XXXX)}"
export CAPTION_DEVICE=cuda CAPTION_DTYPE=auto CAPTION_BATCH_SIZE=64 MLCORE_MAX_BATCH=64
timeout 90 "$PY" manage.py migrate -v0 && \
timeout "$budget" "$PY" manage.py benchmark --worker-path --model "$MODEL_DIR" --photos 64 --beams 1,3 --repeats 1 \
    --json "$OUT/worker_path.json" || echo "step 4 failed or ran out of time"
if [ -n "$PGDIR" ]; then $PGUSER_RUN pg_ctl -D "$PGDIR/data" -m fast stop >/dev/null 2>&1; rm -rf "$PGDIR"; fi
models_bench
echo "# done in $(( $(date +%s) - started )) s; results in $OUT"
