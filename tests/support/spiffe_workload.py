"""A SPIFFE Workload API fake on a Unix socket, built on the servicer py-spiffe ships.

Only ``FetchJWTSVID`` is implemented (the rest answer ``UNIMPLEMENTED``, as the generated base
class does). Like a SPIRE agent it refuses requests without the ``workload.spiffe.io: true``
header with ``INVALID_ARGUMENT`` (switch that off with ``enforce_header=False`` to check what a
lax server receives). Faults: :attr:`SpiffeWorkloadServer.codes` lists status codes to answer
with, in turn, before answering normally. Every call is recorded (header value, audiences).

The socket lives in a short directory under ``/tmp`` (Unix socket paths are limited to about
100 bytes, and pytest's ``tmp_path`` can be longer).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from spiffe._proto import workload_pb2, workload_pb2_grpc
from tests.support.token_server import TokenSigner

__all__ = ["SpiffeCall", "SpiffeWorkloadServer"]

HEADER = "workload.spiffe.io"


@dataclass(frozen=True)
class SpiffeCall:
    """One ``FetchJWTSVID`` call."""

    header: str | None
    """The value of ``workload.spiffe.io`` (``None`` when absent)."""
    audience: tuple[str, ...]
    code: str
    """The status answered (``"OK"`` or a ``grpc.StatusCode`` name)."""


class _Servicer(workload_pb2_grpc.SpiffeWorkloadAPIServicer):  # type: ignore[misc]
    def __init__(self, fake: SpiffeWorkloadServer) -> None:
        self.fake = fake

    def FetchJWTSVID(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self.fake._fetch_jwt_svid(request, context)


class SpiffeWorkloadServer:
    """The fake; a context manager that starts and stops it.

    Attributes:
        spiffe_id: the SPIFFE ID put in ``sub``.
        enforce_header: refuse requests without ``workload.spiffe.io: true``.
        codes: ``grpc.StatusCode`` values to answer with, in turn, before answering normally.
        lifetime: seconds the SVIDs live.
    """

    def __init__(self, *, enforce_header: bool = True) -> None:
        self.signer = TokenSigner()
        self.spiffe_id = "spiffe://example.org/ci/builder"
        self.enforce_header = enforce_header
        self.codes: list[grpc.StatusCode] = []
        self.lifetime = 300
        self._lock = threading.Lock()
        self._calls: list[SpiffeCall] = []
        self._directory = Path(tempfile.mkdtemp(prefix="spiffe-", dir="/tmp"))
        self.socket_path = str(self._directory / "agent.sock")
        self._server: grpc.Server | None = None

    def start(self) -> SpiffeWorkloadServer:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        workload_pb2_grpc.add_SpiffeWorkloadAPIServicer_to_server(_Servicer(self), server)
        server.add_insecure_port(f"unix:{self.socket_path}")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> SpiffeWorkloadServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def uri(self) -> str:
        """The socket as the specification writes it: ``unix:///path``."""
        return f"unix://{self.socket_path}"

    @property
    def calls(self) -> list[SpiffeCall]:
        with self._lock:
            return list(self._calls)

    def svid(self, audience: list[str]) -> str:
        now = int(time.time())
        claims = {"sub": self.spiffe_id, "aud": audience, "iat": now, "exp": now + self.lifetime}
        return self.signer.sign(claims)

    def _record(self, header: str | None, audience: tuple[str, ...], code: str) -> None:
        with self._lock:
            self._calls.append(SpiffeCall(header, audience, code))

    def _fetch_jwt_svid(self, request: Any, context: grpc.ServicerContext) -> Any:
        metadata = dict(context.invocation_metadata())
        header = metadata.get(HEADER)
        audience = tuple(request.audience)
        if self.enforce_header and header != "true":
            self._record(header, audience, "INVALID_ARGUMENT")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "security header missing from request")
        with self._lock:
            forced = self.codes.pop(0) if self.codes else None
        if forced is not None:
            self._record(header, audience, forced.name)
            context.abort(forced, f"forced {forced.name}")
        if not audience:
            self._record(header, audience, "INVALID_ARGUMENT")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "audience must be specified")
        self._record(header, audience, "OK")
        svid = workload_pb2.JWTSVID(spiffe_id=self.spiffe_id, svid=self.svid(list(audience)))
        return workload_pb2.JWTSVIDResponse(svids=[svid])
