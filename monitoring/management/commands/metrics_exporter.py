from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.core.management.base import BaseCommand, CommandError

from monitoring import access, metrics


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # scrapes every 15 s would drown the worker's log
        pass


class Command(BaseCommand):
    help = (
        "Serve this host's worker metrics (PROMETHEUS_MULTIPROC_DIR) over HTTP at /metrics, for worker "
        "hosts that run no web server. Same access rules as the site: METRICS_TOKEN or METRICS_ALLOWED_IPS."
    )

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="0.0.0.0")
        parser.add_argument("--port", type=int, default=9100)

    def handle(self, *args, addr, port, **options):
        if not metrics.MULTIPROC_DIR:
            raise CommandError(
                "Set PROMETHEUS_MULTIPROC_DIR to the folder the qcluster of this host writes its metrics to."
            )

        def app(environ, start_response):
            if environ.get("PATH_INFO") != "/metrics":
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"Not found: the metrics are at /metrics\n"]
            allowed = access.metrics_access_allowed(
                authorization=environ.get("HTTP_AUTHORIZATION", ""), remote_addr=environ.get("REMOTE_ADDR", "")
            )
            if not allowed:
                start_response("403 Forbidden", [("Content-Type", "text/plain")])
                return [access.REFUSAL.encode()]
            body, content_type = metrics.exposition(with_database=False)
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
            return [body]

        server = make_server(addr, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
        self.stdout.write(f"Serving {metrics.MULTIPROC_DIR} at http://{addr}:{port}/metrics")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
