"""With SENTRY_DSN set, errors reach Sentry: a web request's unhandled exception (the Django
integration) and a failed worker task (django-q2 logs it at ERROR: the logging integration).
Sent to a local HTTP endpoint that receives the envelopes as a Sentry server does."""

import gzip
import os
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import logging, django
django.setup()
from django.core.signals import got_request_exception
from django.test import RequestFactory
try:
    1 / 0
except ZeroDivisionError:  # what Django's handler does with a view's unhandled exception
    got_request_exception.send(sender=None, request=RequestFactory().get("/gallery/"))
try:
    raise KeyError("worker-task-boom")
except KeyError:  # what django-q2's worker logs for a failed task
    logging.getLogger("django-q").error("Failed [captions.tasks.caption_pending] - worker-task-boom", exc_info=True)
import sentry_sdk
sentry_sdk.flush(timeout=10)
"""


class Envelopes(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            data = gzip.decompress(data)
        elif encoding == "deflate":
            data = zlib.decompress(data)
        elif encoding == "br":
            import brotli  # only when sentry-sdk chooses it

            data = brotli.decompress(data)
        Envelopes.received.append(self.path.encode() + b"\n" + data)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_web_and_worker_errors_are_sent_to_sentry_when_a_dsn_is_set(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Envelopes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "captionsite.settings",
               "SENTRY_DSN": f"http://publickey@127.0.0.1:{server.server_port}/42", "VAR_DIR": str(tmp_path),
               "SENTRY_ENVIRONMENT": "ci"}
        env.pop("DATABASE_URL", None)
        run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr
    finally:
        server.shutdown()
    everything = b"\n".join(Envelopes.received)
    assert all(b"/api/42/envelope/" in envelope.split(b"\n", 1)[0] for envelope in Envelopes.received)
    web = [envelope for envelope in Envelopes.received if b"ZeroDivisionError" in envelope]
    assert web and b'"type":"django"' in web[0]  # the web request, reported by the Django integration
    assert b"worker-task-boom" in everything and b"KeyError" in everything  # the worker task
    assert b'"environment":"ci"' in everything


def test_without_a_dsn_nothing_is_initialised(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "captionsite.settings", "VAR_DIR": str(tmp_path)}
    env.pop("SENTRY_DSN", None)
    env.pop("DATABASE_URL", None)
    run = subprocess.run([sys.executable, "-c", "import django; django.setup(); import sentry_sdk; "
                          "print(sentry_sdk.get_client().is_active())"],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
