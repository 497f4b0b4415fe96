"""An in-process registry that misbehaves on purpose, for attack tests.

:class:`HostileRegistry` is a real HTTP/1.1 server on ``127.0.0.1:0`` running in background
threads. Tests program it per route — ``server.route("GET", r"/v2/.*/manifests/.*", behaviour)``
where a behaviour is a :class:`Response`, a function of the :class:`RecordedRequest`, or a list
of those served in turn (the last one repeats) — and it records every request it receives with
its headers and body, so a test can assert that an ``Authorization`` header was or was not sent,
or that no request for some path was made at all.

It misbehaves at the byte level where the attacks need it: bodies produced by a generator
(endless chunked streams), a ``Content-Length`` that lies, raw bytes instead of a response, a
connection dropped without an answer, a delayed answer. Each :class:`RecordedRequest` says how
many body bytes went out and whether the client hung up before the body was complete
(:attr:`RecordedRequest.client_disconnected`).

Everything is bounded: request bodies are read up to :data:`MAX_REQUEST_BODY_BYTES`, a streamed
response stops after :data:`MAX_STREAM_BYTES` or :data:`MAX_STREAM_SECONDS` even if the client
keeps reading (that is recorded as :attr:`RecordedRequest.cut_by_server`), every socket has a
timeout, and :meth:`HostileRegistry.close` shuts every open connection and joins every thread.

Several instances may run at once ("registry" and "evil"); each has its own port, so they are
different origins although both are on 127.0.0.1. :class:`HostMapTransport` (and its async
twin) let a store reach an instance under a made-up host name such as ``registry.test``, to
play a registry that is not on loopback.

Example::

    with HostileRegistry("registry") as server:
        server.route("GET", r"/v2/team/app/manifests/.*", Response(200, body=endless()))
        ...
        assert server.requests()[0].client_disconnected
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

__all__ = [
    "MAX_REQUEST_BODY_BYTES",
    "MAX_STREAM_BYTES",
    "MAX_STREAM_SECONDS",
    "AsyncHostMapTransport",
    "Behaviour",
    "HostMapTransport",
    "HostileRegistry",
    "RecordedRequest",
    "Response",
    "TokenEndpoint",
    "basic_authorization",
    "bearer_challenge",
    "endless",
    "error_response",
    "json_response",
    "repeated",
    "require_authorization",
]

MAX_REQUEST_BODY_BYTES = 64 * 1024 * 1024
"""Request bodies are read up to this size; the rest is discarded and the connection closed."""
MAX_STREAM_BYTES = 1 << 30
"""A streamed response body is cut after this many bytes even if the client still reads."""
MAX_STREAM_SECONDS = 15.0
"""A streamed response body is cut after this long even if the client still reads."""
SOCKET_TIMEOUT = 5.0
"""Blocking reads and writes on a connection give up after this long."""
SEND_BUFFER_BYTES = 128 * 1024
"""Kernel send buffer of each connection (so few bytes are in flight when a client hangs up)."""
_JOIN_SECONDS = 10.0
_STREAM_CHUNK = 64 * 1024

BodyFactory = Callable[[], Iterable[bytes]]
"""Makes a fresh iterator of body chunks for one response (so a route can answer twice)."""


@dataclass(frozen=True)
class Response:
    """What the server sends back for one request.

    Args:
        status: the status code.
        headers: header pairs (or a mapping); sent as given, after the framing headers.
        body: the body as bytes, or a :data:`BodyFactory` for a streamed body (sent chunked
            unless ``content_length`` is given).
        content_length: send this ``Content-Length`` whatever the body really is (a lie when
            it differs); the connection is closed after the body.
        raw: send exactly these bytes (or these streamed chunks) instead of an HTTP
            response, then close: a malformed status line, a body delimited only by the
            connection closing...
        drop: close the connection without answering.
        delay: wait this long (interrupted by :meth:`HostileRegistry.close`) before answering.
        close: close the connection after this response.
    """

    status: int = 200
    headers: Sequence[tuple[str, str]] | Mapping[str, str] = ()
    body: bytes | BodyFactory = b""
    content_length: int | None = None
    raw: bytes | BodyFactory | None = None
    drop: bool = False
    delay: float = 0.0
    close: bool = False

    def header_items(self) -> list[tuple[str, str]]:
        """The headers as a list of pairs."""
        if isinstance(self.headers, Mapping):
            return list(self.headers.items())
        return list(self.headers)


@dataclass
class RecordedRequest:
    """One request the server received, and what became of its response."""

    server: str
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    bytes_sent: int = 0
    """Response body bytes written to the socket (framing excluded)."""
    client_disconnected: bool = False
    """The client closed the connection while the response was still being written."""
    cut_by_server: bool = False
    """The server stopped a streamed body at its own bound or a socket timeout."""
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def path(self) -> str:
        """The request path, without the query."""
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        """The query parameters."""
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header, if any."""
        return self.header("authorization")

    def wait(self, timeout: float = SOCKET_TIMEOUT * 2) -> RecordedRequest:
        """Wait until the server is done answering this request; return it.

        Raises:
            AssertionError: the handler is still busy after ``timeout`` seconds.
        """
        if not self.finished.wait(timeout):
            raise AssertionError(f"{self.server}: {self.method} {self.target} still being served")
        return self


Behaviour = Response | Callable[[RecordedRequest], Response] | Sequence[Any]
"""A response, a function of the request returning one, or a list of those served in turn."""


@dataclass
class _Route:
    methods: frozenset[str] | None
    pattern: re.Pattern[str]
    behaviour: Behaviour
    served: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # joined by server_close(): no thread outlives close()
    block_on_close = True
    owner: HostileRegistry

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn); nothing here needs it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def setup(self) -> None:
        # Answers go out at once (no Nagle delay against the client's delayed ACK), and a
        # small send buffer keeps bytes_sent close to what the client actually took.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        super().setup()
        self.server.owner._track(self.connection, add=True)
        self.server.owner._handler_started(threading.current_thread())

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.owner._track(self.connection, add=False)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except OSError:
            # The client went away (or timed out) between requests.
            self.close_connection = True

    def __getattr__(self, name: str) -> Any:
        # Every method (do_GET, do_PATCH, do_FOO...) is dispatched the same way.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    # -- one request ------------------------------------------------------------------

    def _dispatch(self) -> None:
        owner = self.server.owner
        record = RecordedRequest(
            server=owner.name,
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=b"",
        )
        try:
            try:
                record.body = self._read_body()
            finally:
                owner._record(record)
            self._answer(owner.behaviour_for(record), record)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            record.client_disconnected = True
            self.close_connection = True
        except TimeoutError:
            record.cut_by_server = True
            self.close_connection = True
        except Exception as exc:  # a bug in a test's behaviour: report it at close()
            owner._fail(f"{record.method} {record.target}: {type(exc).__name__}: {exc}")
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.wfile.write(b"HTTP/1.1 500 Handler Error\r\nContent-Length: 0\r\n\r\n")
        finally:
            record.finished.set()

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is not None and length.strip().isdigit():
            wanted = int(length)
            body = self.rfile.read(min(wanted, MAX_REQUEST_BODY_BYTES))
            if wanted > MAX_REQUEST_BODY_BYTES:
                self.close_connection = True
            return body
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        return b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            if total + size > MAX_REQUEST_BODY_BYTES:
                self.close_connection = True
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            total += size
            self.rfile.readline(1024)

    def _answer(self, response: Response, record: RecordedRequest) -> None:
        owner = self.server.owner
        if response.delay:
            owner._stopping.wait(response.delay)
        if response.drop:
            self.close_connection = True
            return
        if response.raw is not None:
            self.close_connection = True
            if isinstance(response.raw, bytes):
                self.wfile.write(response.raw)
            else:
                self._stream(response.raw(), record, chunked=False)
            return
        headers = response.header_items()
        names = {name.lower() for name, _ in headers}
        body = response.body
        streamed = not isinstance(body, bytes)
        chunked = streamed and response.content_length is None
        framing: list[tuple[str, str]] = []
        if "content-length" not in names and "transfer-encoding" not in names:
            if chunked:
                framing.append(("Transfer-Encoding", "chunked"))
            else:
                length = response.content_length
                if length is None:
                    assert isinstance(body, bytes)
                    length = len(body)
                framing.append(("Content-Length", str(length)))
        if response.close or response.content_length is not None:
            self.close_connection = True
            framing.append(("Connection", "close"))
        reason = self.responses.get(response.status, ("Whatever",))[0]
        head = [f"HTTP/1.1 {response.status} {reason}\r\n"]
        head.extend(f"{name}: {value}\r\n" for name, value in [*framing, *headers])
        head.append("\r\n")
        encoded = "".join(head).encode("latin-1")
        if record.method == "HEAD" or response.status in (204, 304):
            self.wfile.write(encoded)
            return
        if isinstance(body, bytes):
            self.wfile.write(encoded + body)
            record.bytes_sent = len(body)
            return
        self.wfile.write(encoded)
        self._stream(body(), record, chunked=chunked)

    def _stream(self, chunks: Iterable[bytes], record: RecordedRequest, *, chunked: bool) -> None:
        deadline = time.monotonic() + MAX_STREAM_SECONDS
        stopping = self.server.owner._stopping
        for chunk in chunks:
            if not chunk:
                continue
            if (
                record.bytes_sent + len(chunk) > MAX_STREAM_BYTES
                or time.monotonic() > deadline
                or stopping.is_set()
            ):
                record.cut_by_server = True
                self.close_connection = True
                return
            if chunked:
                self.wfile.write(b"%x\r\n" % len(chunk))
                self.wfile.write(chunk)
                self.wfile.write(b"\r\n")
            else:
                self.wfile.write(chunk)
            record.bytes_sent += len(chunk)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")


class HostileRegistry:
    """A programmable HTTP server on 127.0.0.1 that records every request.

    Args:
        name: shown in records and failures ("registry", "evil"...).

    Unrouted requests get ``404`` with a distribution error body. Routes added later take
    precedence over earlier ones, so a test can override a default.
    """

    def __init__(self, name: str = "registry") -> None:
        self.name = name
        self._routes: list[_Route] = []
        self._requests: list[RecordedRequest] = []
        self._failures: list[str] = []
        self._connections: set[socket.socket] = set()
        self._handler_threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> HostileRegistry:
        """Bind a free loopback port and serve in a background thread; return ``self``."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"hostile-registry-{self.name}",
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, hang up on every client and join every thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        thread.join(_JOIN_SECONDS)
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads (block_on_close)

    def __enter__(self) -> HostileRegistry:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def threads_alive(self) -> list[threading.Thread]:
        """Threads of this server still running (empty after :meth:`close`)."""
        threads: list[threading.Thread] = []
        if self._thread is not None and self._thread.is_alive():
            threads.append(self._thread)
        with self._lock:
            threads.extend(t for t in self._handler_threads if t.is_alive())
        return threads

    @property
    def failures(self) -> list[str]:
        """Exceptions raised by behaviours (bugs in a test, not in the client)."""
        with self._lock:
            return list(self._failures)

    # -- addresses --------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on."""
        assert self._server is not None, "start() the server first"
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: what goes into an image reference."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    # -- programming ------------------------------------------------------------------

    def route(self, method: str | Iterable[str], path: str, behaviour: Behaviour) -> None:
        """Answer requests whose method matches and whose path fully matches ``path``.

        Args:
            method: ``"GET"``, several methods, or ``"*"`` for any.
            path: a regular expression for the path (query excluded).
            behaviour: a :class:`Response`, a function of the :class:`RecordedRequest`
                returning one, or a list of those served in turn (the last one repeats).
        """
        methods = (
            None
            if method == "*"
            else frozenset([method.upper()] if isinstance(method, str) else method)
        )
        with self._lock:
            self._routes.append(_Route(methods, re.compile(path), behaviour))

    def behaviour_for(self, record: RecordedRequest) -> Response:
        """The response the routes give for ``record``."""
        with self._lock:
            for route in reversed(self._routes):
                if route.methods is not None and record.method not in route.methods:
                    continue
                if route.pattern.fullmatch(record.path) is None:
                    continue
                behaviour = route.behaviour
                if isinstance(behaviour, Sequence):
                    behaviour = behaviour[min(route.served, len(behaviour) - 1)]
                route.served += 1
                break
            else:
                behaviour = error_response(404, "NAME_UNKNOWN", "no route")
        return behaviour if isinstance(behaviour, Response) else behaviour(record)

    # -- the log ----------------------------------------------------------------------

    def requests(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Requests received so far; only those with ``method`` and a path matching ``path``."""
        with self._lock:
            records = list(self._requests)
        return [
            r
            for r in records
            if (method is None or r.method == method)
            and (path is None or re.fullmatch(path, r.path) is not None)
        ]

    def clear(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self._requests.clear()

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(record)

    def _fail(self, message: str) -> None:
        with self._lock:
            self._failures.append(message)

    def _handler_started(self, thread: threading.Thread) -> None:
        with self._lock:
            self._handler_threads = [t for t in self._handler_threads if t.is_alive()]
            self._handler_threads.append(thread)

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


# -- behaviours -------------------------------------------------------------------------------


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
    )


def error_response(
    status: int, code: str, message: str = "", headers: Mapping[str, str] | None = None
) -> Response:
    """A distribution-style error response (``{"errors": [{"code": ...}]}``)."""
    return json_response(status, {"errors": [{"code": code, "message": message}]}, headers)


def bearer_challenge(realm: str, service: str = "registry", scope: str | None = None) -> str:
    """A ``WWW-Authenticate: Bearer`` value."""
    value = f'Bearer realm="{realm}",service="{service}"'
    return value + (f',scope="{scope}"' if scope else "")


def basic_authorization(username: str, password: str) -> str:
    """The ``Authorization`` value HTTP Basic sends for ``username``/``password``."""
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def require_authorization(
    accept: str | Callable[[str | None], bool],
    challenge: str,
    inner: Response | Callable[[RecordedRequest], Response],
) -> Callable[[RecordedRequest], Response]:
    """Answer with ``inner`` when the ``Authorization`` header is accepted, else ``401``.

    Args:
        accept: the exact header value expected, or a predicate on the header.
        challenge: the ``WWW-Authenticate`` value of the ``401``.
        inner: what an authorised request gets.
    """

    def behaviour(request: RecordedRequest) -> Response:
        header = request.authorization
        ok = accept(header) if callable(accept) else header == accept
        if not ok:
            return error_response(
                401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge}
            )
        return inner if isinstance(inner, Response) else inner(request)

    return behaviour


class TokenEndpoint:
    """A distribution token endpoint: issues ``<prefix>1``, ``<prefix>2``... and remembers them.

    Args:
        basic: ``(username, password)`` a ``GET`` must present with HTTP Basic; ``None``
            allows anonymous ``GET`` requests.
        refresh_token: the refresh token an OAuth2 ``POST`` must present; ``None`` refuses
            ``POST``.
        expires_in: the ``expires_in`` of every answer (omitted when ``None``).
        prefix: the start of every issued token.
    """

    def __init__(
        self,
        *,
        basic: tuple[str, str] | None = None,
        refresh_token: str | None = None,
        expires_in: Any = 300,
        prefix: str = "issued-token-",
    ) -> None:
        self.basic = basic
        self.refresh_token = refresh_token
        self.expires_in = expires_in
        self.prefix = prefix
        self.issued: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Response:
        if request.method == "POST":
            form = parse_qs(request.body.decode("utf-8", "replace"))
            allowed = self.refresh_token is not None and form.get("refresh_token") == [
                self.refresh_token
            ]
        elif self.basic is None:
            allowed = True
        else:
            allowed = request.authorization == basic_authorization(*self.basic)
        if not allowed:
            return error_response(401, "UNAUTHORIZED", "bad credentials")
        with self._lock:
            token = f"{self.prefix}{len(self.issued) + 1}"
            self.issued.append(token)
        body: dict[str, Any] = {"token": token}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return json_response(200, body)

    def accepts(self, authorization: str | None) -> bool:
        """Whether ``authorization`` is ``Bearer`` with a token this endpoint issued."""
        with self._lock:
            return authorization in {f"Bearer {token}" for token in self.issued}


def endless(chunk_size: int = _STREAM_CHUNK, fill: bytes = b"x") -> BodyFactory:
    """A body that never ends (the server still stops at its own bounds)."""
    chunk = (fill * chunk_size)[:chunk_size]

    def chunks() -> Iterator[bytes]:
        while True:
            yield chunk

    return chunks


def repeated(total: int, chunk_size: int = _STREAM_CHUNK, fill: bytes = b"x") -> BodyFactory:
    """A body of ``total`` bytes, produced chunk by chunk without holding it in memory."""
    chunk = (fill * chunk_size)[:chunk_size]

    def chunks() -> Iterator[bytes]:
        left = total
        while left > 0:
            piece = chunk if left >= len(chunk) else chunk[:left]
            left -= len(piece)
            yield piece

    return chunks


# -- reaching an instance under another name --------------------------------------------------


def _mapped(request: httpx.Request, hosts: Mapping[str, HostileRegistry]) -> httpx.Request | None:
    target = hosts.get(request.url.host)
    if target is None:
        return None
    # A copy goes to the socket; the caller keeps seeing the original URL (and Host header).
    return httpx.Request(
        request.method,
        request.url.copy_with(host="127.0.0.1", port=target.port),
        headers=request.headers,
        stream=request.stream,
        extensions=request.extensions,
    )


class HostMapTransport(httpx.HTTPTransport):
    """An ``httpx`` transport that sends requests for some host names to hostile registries.

    ``HostMapTransport({"registry.test": server})`` makes ``http://registry.test/...`` reach
    ``server`` while the client (and the ``Host`` header) still see ``registry.test``; other
    hosts are reached normally.
    """

    def __init__(self, hosts: Mapping[str, HostileRegistry], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hosts = dict(hosts)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return super().handle_request(_mapped(request, self._hosts) or request)


class AsyncHostMapTransport(httpx.AsyncHTTPTransport):
    """:class:`HostMapTransport` for ``httpx.AsyncClient``."""

    def __init__(self, hosts: Mapping[str, HostileRegistry], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hosts = dict(hosts)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await super().handle_async_request(_mapped(request, self._hosts) or request)
