"""A small HTTP server on 127.0.0.1 that plays a vendor's API in tests.

Routes are ``(method, regex) -> handler(request) -> Reply``. The server records every request
(method, path, query, JSON body, headers without credentials) in :attr:`FakeApi.log`, and
:meth:`FakeApi.fail_next` queues faults (a status with headers and body, e.g. a 429 with
``Retry-After``, a 503, a malformed page) that the next matching requests get instead of the real
answer. Every handler's body should be checked against the vendor SDK's models by the vendor fake
(see ``hubspot_crm.py``, ``mailchimp.py``).

The server runs on a daemon thread and is bounded: it stops after :data:`MAX_REQUESTS` requests
or when the ``with`` block ends, and each request has a socket timeout.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: A test that sends more requests than this has a paging loop that does not end.
MAX_REQUESTS = 20_000
SOCKET_TIMEOUT_SECONDS = 10
#: Request headers never recorded (credentials).
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie"})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: object
    headers: dict[str, str]
    #: the ``Authorization`` header as sent, kept only for the auth check (never logged)
    authorization: str = field(default="", repr=False)
    #: the route pattern's groups (ids in the path)
    groups: tuple[str, ...] = ()

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    status: int = 200
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    #: raw bytes sent as is (a malformed page); wins over ``body``
    raw: bytes | None = None


Handler = Callable[[Request], Reply]


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    reply: Reply
    times: int


class FakeApi:
    """``with FakeApi(routes, token=...) as api: api.url`` serves until the block ends."""

    def __init__(
        self,
        routes: list[tuple[str, str, Handler]] | None = None,
        *,
        check_auth: Callable[[str], bool] | None = None,
    ) -> None:
        self.routes: list[tuple[str, re.Pattern, Handler]] = []
        for method, pattern, handler in routes or []:
            self.route(method, pattern, handler)
        self.check_auth = check_auth
        self.log: list[Request] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + r"/?$"), handler))

    def fail_next(self, method: str, pattern: str, reply: Reply, times: int = 1) -> None:
        """The next ``times`` requests matching ``method`` and ``pattern`` get ``reply``."""
        with self._lock:
            self._faults.append(Fault(method, re.compile(pattern), reply, times))

    def requests_to(self, method: str, pattern: str) -> list[Request]:
        rx = re.compile(pattern)
        return [r for r in self.log if r.method == method and rx.search(r.path)]

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake API is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeApi:
        api = self

        class _Handler(BaseHTTPRequestHandler):
            timeout = SOCKET_TIMEOUT_SECONDS

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                api._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=SOCKET_TIMEOUT_SECONDS)

    # ---- serving ------------------------------------------------------------------------------

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        request = Request(
            method=h.command,
            path=parts.path,
            query=urllib.parse.parse_qs(parts.query),
            body=body,
            headers={k: v for k, v in h.headers.items() if k.lower() not in SECRET_HEADERS},
            authorization=h.headers.get("Authorization", ""),
        )
        with self._lock:
            self.log.append(request)
            over = len(self.log) > MAX_REQUESTS
        reply = self._answer(request) if not over else Reply(599, {"message": "too many"})
        self._send(h, reply)
        if over:
            threading.Thread(target=self._server.shutdown, daemon=True).start()

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            for fault in self._faults:
                if fault.method == request.method and fault.pattern.search(request.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault.reply
        if self.check_auth is not None and not self.check_auth(request.authorization):
            return Reply(401, {"status": "error", "message": "Authentication credentials invalid."})
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                request.groups = match.groups()
                return handler(request)
        missing = f"no route {request.method} {request.path}"
        return Reply(404, {"status": "error", "message": missing})

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, reply: Reply) -> None:
        data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        h.send_response(reply.status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)
