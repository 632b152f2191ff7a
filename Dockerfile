# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements.txt .
RUN python -m venv /venv \
 && /venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && /venv/bin/pip install -r requirements.txt

FROM python:3.11-slim
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    VAR_DIR=/data MEDIA_ROOT=/data/media HF_HOME=/data/hf-cache
RUN useradd --create-home --uid 1000 captionsite && mkdir -p /data && chown captionsite /data
COPY --from=build /venv /venv
WORKDIR /app
COPY --chown=captionsite . .
# collectstatic needs a key but never uses it for anything secret.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput
USER captionsite
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/accounts/login/', timeout=4).status == 200 else 1)"
CMD ["gunicorn", "captionsite.wsgi", "--config", "gunicorn.conf.py"]
