#!/usr/bin/env bash
# Run captionsite on this machine: the web server and a captioning worker, together.
# Ctrl-C stops both. Settings come from the environment or a .env file (see .env.example).
set -euo pipefail
cd "$(dirname "$0")/.."

# Tesseract reads the text in images (OCR); without it the site captions without OCR and says so.
if ! command -v tesseract >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-eng \
      tesseract-ocr-deu tesseract-ocr-jpn >/dev/null || echo "Could not install Tesseract: captions go on without OCR." >&2
  else
    echo "Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng): captions go on without OCR." >&2
  fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py setup_schedules --verbosity 0
.venv/bin/python manage.py collectstatic --noinput --verbosity 0

# Prometheus multiprocess mode: every gunicorn worker and the qcluster write their values here, so
# one scrape of /metrics reports them all. A fresh folder each start (stale files of dead
# processes would be summed forever).
if [ -z "${VAR_DIR:-}" ] && [ -f .env ]; then
  VAR_DIR=$(sed -n 's/^[[:space:]]*VAR_DIR[[:space:]]*=[[:space:]]*//p' .env | tail -n 1)
fi
VAR_DIR=${VAR_DIR:-$PWD/var}
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$VAR_DIR/prometheus-multiproc}
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -type f -name '*.db' -delete

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
.venv/bin/gunicorn captionsite.asgi:application --config gunicorn.conf.py --bind "$HOST:$PORT" &
web=$!
# The worker in a session of its own: a TERM sent to this script's whole process group (a process
# manager, `kill -- -PGID`) would also reach django-q's guard process, which then dies while the
# cluster waits for it to acknowledge the stop, and the cluster hangs until KILL. stop() below
# sends the worker's main process one TERM; it stops its own children in order (about 2 s idle).
setsid .venv/bin/python manage.py qcluster &
worker=$!

# One TERM each (a whole process group may have had its own already), then up to 30 s to finish
# the work in hand, then KILL: the script never hangs on a worker that ignores a second signal.
stop() {
  trap - INT TERM EXIT
  kill -TERM "$web" "$worker" 2>/dev/null || true
  for _ in $(seq 30); do
    kill -0 "$web" 2>/dev/null || kill -0 "$worker" 2>/dev/null || break
    sleep 1
  done
  kill -KILL "$web" "$worker" 2>/dev/null || true
  wait "$web" "$worker" 2>/dev/null || true
}
trap stop INT TERM EXIT
echo "captionsite is running at http://$HOST:$PORT (Ctrl-C stops the web server and the worker)"
wait -n "$web" "$worker"
