"""The lifecycle shared by the HTTP fakes that serve on 127.0.0.1 from a daemon thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, TypeVar

_Fake = TypeVar("_Fake", bound="LoopbackHTTPFake")


class LoopbackHTTPServer(ThreadingHTTPServer):
    """The server of a :class:`LoopbackHTTPFake`; its handlers reach the fake as ``fake``."""

    daemon_threads = True
    fake: Any


class LoopbackHTTPFake:
    """Start, stop and ``with`` for a fake served by ``handler`` on an ephemeral port.

    Subclasses set ``handler`` (and ``server_class``, to type what handlers see) and call
    ``super().__init__()``.
    """

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    server_class: ClassVar[type[LoopbackHTTPServer]] = LoopbackHTTPServer
    #: What :meth:`address` says when the fake is not running.
    not_running = "the server is not running"

    def __init__(self) -> None:
        self._server: LoopbackHTTPServer | None = None

    def start(self: _Fake) -> _Fake:
        server = self.server_class(("127.0.0.1", 0), self.handler)
        server.fake = self
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self: _Fake) -> _Fake:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, self.not_running
        return int(self._server.server_address[1])
