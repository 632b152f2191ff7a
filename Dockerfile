# syntax=docker/dockerfile:1
# One image for every role: the web server (default CMD), the worker (`python manage.py qcluster`)
# and the release step (`python manage.py migrate --noinput && python manage.py setup_schedules`).

# --- build: a virtual environment with every dependency, and the collected static files -------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY requirements.txt .
# torch from the CPU wheel index first: the default index pulls a multi-GB CUDA build. For GPU
# worker hosts, build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN python -m venv /venv \
 && /venv/bin/pip install --index-url "$TORCH_INDEX" "$(grep -E '^torch==' requirements.txt)" \
 && /venv/bin/pip install -r requirements.txt
COPY . .
# collectstatic needs a key but never uses it for anything secret; DEBUG=false selects the
# hashed, compressed (whitenoise) storage the web server serves from.
RUN SECRET_KEY=collectstatic-only DEBUG=false VAR_DIR=/tmp/build-var \
    /venv/bin/python manage.py collectstatic --noinput --verbosity 0

# --- runtime: no compilers, no build cache, a user without privileges ---------------------------
FROM python:3.11-slim AS runtime
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    VAR_DIR=/data MEDIA_ROOT=/data/media HF_HOME=/data/hf-cache \
    PROMETHEUS_MULTIPROC_DIR=/run/captionsite-metrics \
    LOG_FORMAT=json PORT=8000
# Tesseract OCR and its English, German and Japanese models (mlcore.ocr reads text in images).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-jpn \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin captionsite \
 && mkdir -p /data/media /data/hf-cache /run/captionsite-metrics \
 && chown -R captionsite:captionsite /data /run/captionsite-metrics
COPY --from=build /venv /venv
WORKDIR /app
# The code stays root-owned: the app user can read it, not change it.
COPY --from=build /app /app
USER captionsite
EXPOSE 8000
# GET /health/ with a Host from ALLOWED_HOSTS (see monitoring/healthcheck.py): 200 only while the
# process serves AND its database answers, so a wrong DATABASE_URL marks the container unhealthy.
# Orchestrators that restart on a failed probe can use GET /health/live/ (pure liveness) instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-m", "monitoring.healthcheck"]
CMD ["gunicorn", "captionsite.asgi:application", "--config", "gunicorn.conf.py"]
