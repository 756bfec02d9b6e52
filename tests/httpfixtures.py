"""A real HTTP server on a loopback address for tests and benchmarks (stdlib only).

`FakeServer` is a `ThreadingHTTPServer` on 127.0.0.x (port chosen by the OS) that
answers GET requests from a route table and logs every request it sees. Later issues
reuse it for Flickr / Wikimedia Commons API fakes: a route may be a canned `Response`,
a sequence of them (each request takes the next; the last one repeats), or a callable
`handler(request) -> Response` that looks at the query string.

    with FakeServer() as server:
        server.route("/a.jpg", Response(jpeg_bytes()))
        server.route("/flaky.jpg", Response(status=500), Response(jpeg_bytes()))
        server.route("/api", lambda req: json_response({"page": req.query["page"][0]}))
        requests.get(server.url("/a.jpg"))
        assert server.hit_count("/a.jpg") == 1

Knobs for misbehaving servers: per-response `delay_s` (slow to answer), `chunk_delay_s`
(trickling body), `send_length=False` (no Content-Length, body until close), a
server-wide `latency_s` (stands in for the network), and `hold_after(n)`: answer n
more requests, then hold every further one until `release_held()` — a server that
"slows down" so a client can be killed mid-way.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Response:
    """A canned answer."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"
    delay_s: float = 0.0  # before the status line
    chunk_delay_s: float = 0.0  # between body chunks of `chunk_size` bytes
    chunk_size: int = 16 * 1024
    send_length: bool = True  # False: no Content-Length; the body ends when the connection closes


def json_response(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer, e.g. for a fake Flickr API page."""
    return Response(json.dumps(payload).encode("utf-8"), status=status, headers=dict(headers or {}),
                    content_type="application/json")


@dataclass(frozen=True)
class Request:
    """What a handler sees."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Hit:
    """One logged request. `completed` is True once the whole response was written."""

    request: Request
    started: float
    status: int | None = None
    completed: bool = False
    held: bool = False

    @property
    def path(self) -> str:
        return self.request.path


Handler = Callable[[Request], Response]
NOT_FOUND = Response(b"not found", status=404, content_type="text/plain")


class FakeServer:
    """A threaded HTTP/1.1 server on `host` with a route table and a request log."""

    def __init__(self, host: str = "127.0.0.1", latency_s: float = 0.0):
        self.latency_s = latency_s
        self.hits: list[Hit] = []
        self._routes: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._release = threading.Event()
        self._abort_held = False
        self._hold_budget: int | None = None
        self._in_flight = 0
        self.max_in_flight = 0
        self._httpd = _Server((host, 0), _make_handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- routes ------------------------------------------------------------------------------
    def route(self, path: str, *answers: Response | Handler) -> None:
        """Answer `path` with a handler, or with canned responses in turn (the last repeats)."""
        if len(answers) == 1 and callable(answers[0]):
            self._routes[path] = answers[0]
            return
        queue = list(answers)
        lock = threading.Lock()

        def next_answer(_request: Request) -> Response:
            with lock:
                return queue.pop(0) if len(queue) > 1 else queue[0]

        self._routes[path] = next_answer

    # -- the "slows down" switch -------------------------------------------------------------
    def hold_after(self, count: int) -> None:
        """Answer `count` more requests, then hold each further one until release_held()."""
        with self._lock:
            self._hold_budget = count
            self._abort_held = False
            self._release.clear()

    def release_held(self, abort: bool = True) -> None:
        """Let held requests go: dropped without an answer (abort) or answered normally."""
        with self._lock:
            self._hold_budget = None
            self._abort_held = abort
        self._release.set()

    # -- the log -----------------------------------------------------------------------------
    def log(self) -> list[Hit]:
        with self._lock:
            return list(self.hits)

    def hit_count(self, path: str | None = None) -> int:
        return sum(1 for hit in self.log() if path is None or hit.path == path)

    def completed_paths(self) -> list[str]:
        """Paths whose response was written in full, once per time."""
        return [hit.path for hit in self.log() if hit.completed]

    def reset_log(self) -> None:
        with self._lock:
            self.hits.clear()
            self.max_in_flight = 0

    def wait_idle(self, timeout_s: float = 10.0) -> None:
        """Return once no request is being answered (AssertionError after `timeout_s`): the log is final."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self._in_flight == 0:
                    return
            time.sleep(0.01)
        raise AssertionError(f"the fake server was still answering after {timeout_s} s")

    # -- serving -----------------------------------------------------------------------------
    def _begin(self, request: Request) -> Hit:
        with self._lock:
            hit = Hit(request, time.monotonic())
            self.hits.append(hit)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            if self._hold_budget is not None:
                hit.held = self._hold_budget <= 0
                self._hold_budget -= 0 if hit.held else 1
        return hit

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _answer(self, hit: Hit) -> Response | None:
        """The response for `hit`, or None to drop the connection unanswered."""
        if hit.held:
            self._release.wait()
            if self._abort_held or self._stopping.is_set():
                return None
        if self.latency_s:
            self._stopping.wait(self.latency_s)
        handler = self._routes.get(hit.path)
        return handler(hit.request) if handler else NOT_FOUND

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops; True when the server is stopping."""
        return bool(seconds) and self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 refuses connections when 16+ clients start at once
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up (killed, timed out, pool closed) is normal here, not news.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real CDN
        # Headers and body go out in separate writes: with Nagle on, the body waits for the
        # client's delayed ACK (~40 ms on Linux) on every keep-alive response.
        disable_nagle_algorithm = True
        timeout = 30  # an idle keep-alive connection does not pin a thread forever

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            request = Request("GET", parts.path, parse_qs(parts.query), dict(self.headers.items()))
            hit = server._begin(request)
            try:
                answer = server._answer(hit)
                if answer is None or server._sleep(answer.delay_s):
                    self.close_connection = True
                    return
                hit.status = answer.status
                hit.completed = self._write(answer)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                self.close_connection = True
            finally:
                server._end()

        def _write(self, answer: Response) -> bool:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.send_length:
                self.send_header("Content-Length", str(len(answer.body)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            for start in range(0, len(answer.body), max(1, answer.chunk_size)):
                if start and server._sleep(answer.chunk_delay_s):
                    self.close_connection = True
                    return False
                self.wfile.write(answer.body[start:start + answer.chunk_size])
                self.wfile.flush()
            return True

        def log_message(self, *args) -> None:  # keep test output clean
            pass

    return _Handler


class FakeApi:
    """Base of the fake web APIs: a FakeServer (`self.server`) answering at `path`; a context manager."""

    path = "/"
    server: FakeServer

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.stop()

    @property
    def endpoint(self) -> str:
        return self.server.url(self.path)
