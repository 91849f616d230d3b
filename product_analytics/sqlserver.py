"""Read-only SQL over HTTP for an embedded (chDB) database, in the manner of ClickHouse's
HTTP interface: the query in `?query=` and/or the body, TabSeparated unless the query has
a FORMAT clause or `default_format` is given, errors as non-2xx with the message.

A chDB directory can be opened by one process; the loader owns it and serves this so the
CLI, tests and users can query while it writes.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from product_analytics.clickhouse import ClickHouse, ClickHouseError

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 1024 * 1024
_READ_ONLY = re.compile(r"^\s*\(*\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b",
                        re.IGNORECASE)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def is_read_only(sql: str) -> bool:
    return bool(_READ_ONLY.match(_COMMENTS.sub(" ", sql)))


class SqlServer:
    def __init__(self, ch: ClickHouse, host: str, port: int,
                 metrics: Callable[[], str] | None = None) -> None:
        handler = _handler(ch, metrics)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sql-http",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(ch: ClickHouse, metrics: Callable[[], str] | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            log.debug("sql-http " + format, *args)

        def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type + "; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _serve(self, body: bytes) -> None:
            url = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path in ("/ping", "/_health") or (url.path == "/" and not params and not body):
                return self._reply(200, b"Ok.\n")
            if url.path == "/metrics" and metrics is not None:
                return self._reply(200, metrics().encode())
            sql = " ".join(part for part in (params.get("query", ""), body.decode()) if part)
            if not sql.strip():
                return self._reply(400, b"Empty query: send SQL in the body or ?query=\n")
            if not is_read_only(sql):
                return self._reply(
                    403, b"Read-only endpoint: only SELECT, WITH, SHOW, DESCRIBE, EXISTS and "
                    b"EXPLAIN are served. Writes go through the gateway.\n")
            try:
                result = ch.text(sql, params.get("default_format", "TabSeparated"))
            except ClickHouseError as exc:
                return self._reply(500 if exc.retryable else 400, (str(exc) + "\n").encode())
            return self._reply(200, result)

        def do_GET(self) -> None:
            self._serve(b"")

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                return self._reply(400, b"Bad Content-Length\n")
            if length > MAX_QUERY_BYTES:
                return self._reply(413, b"Query larger than 1 MiB\n")
            self._serve(self.rfile.read(length))

    return Handler
