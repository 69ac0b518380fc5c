"""``/metrics`` over HTTP (prometheus-client's own server, in a thread of its own), bound to loopback unless
asked otherwise."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.registry import CollectorRegistry

from cortex_tui.errors import CortexError


class MetricsServer:
    def __init__(self, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        try:
            server, thread = start_http_server(port, addr=host, registry=registry)
        except OSError as e:
            raise CortexError(f"cannot serve metrics on {host}:{port}: {e.strerror or e}",
                              "choose another --metrics-port (0 picks a free one)") from e
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.host = host
        self.port = int(server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
