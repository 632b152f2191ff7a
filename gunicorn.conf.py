"""gunicorn settings; every value can be overridden with GUNICORN_* environment variables."""

import os
import re
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"


def _var_dir() -> Path:
    """VAR_DIR as the site reads it: the environment, else .env (its last VAR_DIR line), else ./var."""
    value = os.environ.get("VAR_DIR", "")
    env_file = Path(__file__).resolve().parent / ".env"
    if not value and env_file.is_file():
        lines = re.findall(r"^\s*VAR_DIR\s*=\s*(.*?)\s*$", env_file.read_text(encoding="utf-8"), re.MULTILINE)
        value = lines[-1].strip("\"'") if lines else ""
    return Path(value or Path(__file__).resolve().parent / "var").absolute()


def _control_socket_for(address: str) -> str:
    name = re.sub(r"[^A-Za-z0-9.]+", "-", address.removeprefix("unix:")).strip("-")
    return str(_var_dir() / f"gunicorn-{name}.ctl")


# gunicorn's control socket (for `gunicornc`) defaults to one path per user
# ($HOME/.gunicorn/gunicorn.ctl): a second instance on the host would take it over. Here it is one
# per instance, VAR_DIR/gunicorn-<address>.ctl (on_starting names it by the address actually bound,
# --bind included); GUNICORN_CONTROL_SOCKET names another path, or `off` opens none.
_control_socket_env = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
control_socket_disable = _control_socket_env.lower() == "off"
control_socket = _control_socket_env if _control_socket_env and not control_socket_disable else _control_socket_for(bind)
# The web process never loads a model, so workers are small; size them for I/O.
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# ASGI (app: captionsite.asgi:application) on uvicorn's event loop: a request waiting for its
# caption (predict, demo) awaits on the loop and holds no thread, so waits never exhaust a pool;
# sync views run in a thread per request. GUNICORN_WORKER_CLASS=gthread with captionsite.wsgi
# is the old WSGI setup (a waiting predict then holds one of the `threads` below).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "uvicorn_worker.UvicornWorker")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))  # gthread only
# Concurrent connections a uvicorn worker accepts before answering 503 (gunicorn's setting).
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "200"))
# The proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: their addresses or networks
# (gunicorn reads CIDR), never "*": with "*" every client names its own address, and the per-address
# sign-in lockout, the rate limits and METRICS_ALLOWED_IPS count whatever it claims.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
if "*" in [part.strip() for part in forwarded_allow_ips.split(",")]:
    raise SystemExit("FORWARDED_ALLOW_IPS must list the proxy's addresses or networks (such as 10.0.0.0/8), "
                     "not '*': with '*' any client can choose the address the site sees.")
# The heartbeat files live in memory when /dev/shm exists (containers: /tmp may be a slow overlay).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

errorlog = "-"
if os.environ.get("LOG_FORMAT", "plain") == "json":
    # The app writes one JSON line per request (with its request id); gunicorn's own messages
    # go through the same JSON formatter.
    accesslog = None
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "core.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }
else:
    accesslog = "-"
    access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'


def on_starting(server):
    """The control socket named by the address bound (a --bind on the command line wins over
    `bind` above). Prometheus multiprocess mode needs its folder before any worker records a value."""
    if not _control_socket_env:
        server.cfg.set("control_socket", _control_socket_for(server.cfg.bind[0]))
    multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc_dir:
        os.makedirs(multiproc_dir, exist_ok=True)


def child_exit(server, worker):
    """A dead worker's live gauges must not be summed forever (its counters stay, as they should)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
