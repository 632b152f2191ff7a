#!/usr/bin/env bash
# The fair benchmark on a CUDA host: the product's captioner and its whole worker path against a
# competent plain transformers script at the same dtype (bf16) and batch, batches 32..256.
# Runs with the host's own python3 and torch and no network: the other packages come as wheels
# carried in .whl/ (made by scripts/gpu_wheels.sh on a machine with PyPI). PostgreSQL when
# initdb/pg_ctl are installed (a throwaway cluster), else SQLite. Under 8 minutes; each step has its
# own time limit.
#
#   bash scripts/gpu_wheels.sh               # once, where PyPI is reachable: fills .whl/
#   bash scripts/gpu_bench.sh                # on the GPU host; results in $OUT (default ./gpu-bench-out)
#   GPU_BENCH_DRY=1 bash scripts/gpu_bench.sh   # dry run on a CPU: a tiny model, tiny sizes, same steps
#
# Steps:
#  1. packages: the carried wheels installed into a scratch folder put first on PYTHONPATH;
#     checks torch (with CUDA), transformers and Django import.
#  2. the random-weight BLIP-base from its published config (benchmarks/fixtures).
#  3. benchmarks.model_path: script vs the product's captioner (decode at the model's size,
#     batched captioning with scores) in bf16 at batches 32, 64, 128, 256, greedy and beam 3,
#     512 COCO-sized photos; then 64 phone-sized (12 MP) photos at batch 64.
#  4. manage.py benchmark --worker-path: script vs submit + worker + record, CAPTION_BATCH_SIZE=128.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-bench-out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
LOG="$OUT/gpu_bench.log"
exec > >(tee -a "$LOG") 2>&1
started=$(date +%s)
DRY="${GPU_BENCH_DRY:-}"
if [ -n "$DRY" ]; then
  DEVICE=cpu BATCHES="${BATCHES:-2,4}" PHOTOS=8 PHONE_PHOTOS=2 PHONE_BATCH=2 WORKER_PHOTOS=4 WORKER_BATCH=2 BEAMS=1,3 ROUNDS=1
else
  DEVICE=cuda BATCHES="${BATCHES:-32,64,128,256}" PHOTOS=512 PHONE_PHOTOS=64 PHONE_BATCH=64 WORKER_PHOTOS=256 WORKER_BATCH=128 BEAMS=1,3 ROUNDS=2
fi
echo "# gpu_bench.sh $(date -u +%FT%TZ) on $(hostname); device $DEVICE; $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'nvidia-smi missing')"

# 1. packages: the host's torch, the rest from the carried wheels (no network needed)
SITE="${SITE:-/tmp/captionsite-site}"
if ls .whl/*.whl >/dev/null 2>&1; then
  timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
    || { echo "FAILED: the carried wheels in .whl/ did not install"; exit 2; }
  export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  echo "# installed $(ls .whl/*.whl | wc -l) carried wheels into $SITE"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  echo "# no .whl/ folder: using $PY's own packages (bash scripts/gpu_wheels.sh makes one)"
fi
need="import torch, transformers, django"
[ "$DEVICE" = cuda ] && need="$need; assert torch.cuda.is_available(), 'no CUDA device'"
if ! timeout 120 "$PY" -c "$need"; then
  echo "FAILED: $PY lacks torch${DEVICE/cpu/}, transformers or Django; nothing measured"; exit 2
fi
"$PY" -c "import torch, transformers, django; print('# python', __import__('sys').version.split()[0], '| torch', torch.__version__, 'CUDA', torch.version.cuda, '| transformers', transformers.__version__, '| Django', django.get_version(), '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU')"

# 2. the model
MODEL_DIR="${MODEL_DIR:-/tmp/captionsite-blip-base-random}"
if [ -n "$DRY" ]; then
  MODEL_DIR=/tmp/captionsite-gpu-bench-dry-blip
  [ -f "$MODEL_DIR/config.json" ] || timeout 120 "$PY" -c "import sys; from benchmarks.testing import build_tiny_blip; build_tiny_blip(sys.argv[1], scale=0.5)" "$MODEL_DIR" \
    || { echo "FAILED: could not build the tiny BLIP"; exit 3; }
elif [ ! -f "$MODEL_DIR/config.json" ]; then
  timeout 180 "$PY" -c "import sys; from benchmarks.bench import save_random_blip_base; save_random_blip_base(sys.argv[1], 'benchmarks/fixtures/blip-image-captioning-base')" "$MODEL_DIR" \
    || { echo "FAILED: could not build the random BLIP-base"; exit 3; }
fi
echo "# model: $MODEL_DIR"

# 3. the captioner against the script, bf16, batches 32..256, then phone-sized photos
timeout 240 "$PY" -m benchmarks.model_path --model "$MODEL_DIR" --device "$DEVICE" --dtype bfloat16 --batches "$BATCHES" \
    --beams "$BEAMS" --photos "$PHOTOS" --photo-set coco --rounds "$ROUNDS" --json "$OUT/model_path_coco.json" \
  || echo "step 3 (COCO-sized) failed or ran out of time"
timeout 90 "$PY" -m benchmarks.model_path --model "$MODEL_DIR" --device "$DEVICE" --dtype bfloat16 --batches "$PHONE_BATCH" \
    --beams 1 --photos "$PHONE_PHOTOS" --photo-set phone --rounds 1 --json "$OUT/model_path_phone.json" \
  || echo "step 3 (phone-sized) failed or ran out of time"

# 4. the worker path (PostgreSQL when available, else SQLite)
elapsed=$(( $(date +%s) - started ))
budget=$(( 460 - elapsed ))
if [ "$budget" -lt 45 ]; then echo "skipping the worker path: ${elapsed}s used"; exit 0; fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)
PGDIR=""
if [ -z "$DRY" ] && [ -z "${DATABASE_URL:-}" ] && { command -v initdb >/dev/null || [ -n "$PGBIN" ]; } \
   && "$PY" -c "import psycopg" 2>/dev/null; then
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
export VAR_DIR="${VAR_DIR:-$(mktemp -d /tmp/captionsite-var.XXXX)}"
[ -z "${DATABASE_URL:-}" ] && export DATABASE_URL="sqlite:///$VAR_DIR/bench.sqlite3"
export SECRET_KEY="${SECRET_KEY:-gpu-bench-only-secret-key-0123456789-abcdefghijklmnop}"
echo "# worker path database: $DATABASE_URL"
export CAPTION_DEVICE="$DEVICE" CAPTION_DTYPE=bfloat16 CAPTION_BATCH_SIZE="$WORKER_BATCH" MLCORE_MAX_BATCH="$WORKER_BATCH"
timeout 90 "$PY" manage.py migrate -v0 && \
timeout "$budget" "$PY" manage.py benchmark --worker-path --model "$MODEL_DIR" --photos "$WORKER_PHOTOS" --photo-set coco \
    --beams "$BEAMS" --repeats "$ROUNDS" --json "$OUT/worker_path.json" || echo "step 4 failed or ran out of time"
if [ -n "$PGDIR" ]; then $PGUSER_RUN pg_ctl -D "$PGDIR/data" -m fast stop >/dev/null 2>&1; rm -rf "$PGDIR"; fi
echo "# done in $(( $(date +%s) - started )) s; results in $OUT"
