#!/usr/bin/env bash
# Fetch, on a machine with PyPI, the wheels a GPU host without network needs to run
# scripts/gpu_bench.sh with its own python3 and torch: everything in requirements.txt that such an
# image does not already hold (Django and its apps, the pinned transformers and huggingface-hub),
# at the versions of this checkout's .venv, for CPython 3.12 on x86-64 Linux, into .whl/ (ignored
# by git; carry it with the working tree). About 30 MB.
#
#   bash scripts/gpu_wheels.sh            # then: carry .whl, run bash scripts/gpu_bench.sh there
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
PYVER="${GPU_PYTHON_VERSION:-3.12}"
DEST="${DEST:-.whl}"
# Already in a CUDA PyTorch image (torch, numpy, Pillow, tokenizers, ...) or not needed by the
# benchmark (servers, PostgreSQL and Redis clients, metrics scorers, ONNX: the GPU path is torch).
SKIP='^(torch|numpy|pillow|tokenizers|safetensors|tqdm|onnx|onnxruntime|pycocoevalcap|pycocotools|gunicorn|uvicorn|uvicorn-worker|psycopg|redis|prometheus-client|charset-normalizer)$'
# what the kept packages need that such an image lacks
EXTRA="asgiref sqlparse pyjwt uritemplate inflection jsonschema jsonschema-specifications referencing rpds-py django-picklefield"
names=$(sed -e 's/#.*//' -e 's/\[.*\]//' -e 's/[<>=!~ ].*//' requirements.txt | tr 'A-Z_' 'a-z-' | grep -v '^$' | grep -Ev "$SKIP" || true)
freeze=$("$PY" -m pip freeze 2>/dev/null | tr 'A-Z_' 'a-z-')
specs=()
for name in $names $EXTRA; do
  pinned=$(printf '%s\n' "$freeze" | grep -E "^${name}==" | head -1 || true)
  [ -n "$pinned" ] || { echo "not installed in $PY: $name (skipped)" >&2; continue; }
  specs+=("$pinned")
done
mkdir -p "$DEST"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$DEST" "${specs[@]}"
du -sh "$DEST"
