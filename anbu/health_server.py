"""A small HTTP server for ``/healthz`` and ``/readyz`` when the gateway or the worker runs alone.

They have no API to hang the paths on; this answers just those two (JSON, as the API does, from
the same :class:`core.health.Health`), on ``ANBU_HEALTH_HOST:ANBU_HEALTH_PORT`` (loopback by
default: probes come from the host's supervisor or a sidecar, not from the internet).
Standard library only: two GET paths do not need a web framework in every process.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from core.health import Health

log = logging.getLogger(__name__)


class HealthServer:
    def __init__(self, health: Health, host: str, port: int) -> None:
        self.health = health
        handler = _handler_for(health)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="anbu-health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        host = self._server.server_address[0]
        log.info("health endpoints on http://%s:%d/healthz and /readyz", host, self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "anbu-health"
        sys_version = ""

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                ok, body = health.liveness()
            elif path == "/readyz":
                ok, body = health.readiness()
            else:
                self._send(404, {"status": "error", "detail": "only /healthz and /readyz here"})
                return
            self._send(200 if ok else 503, body)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would drown the log

    return Handler
