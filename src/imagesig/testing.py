"""Public fakes for plugin and integration authors.

:class:`InMemoryStore` (from :mod:`imagesig.oci.memory`) is a registry-like store held in a
dictionary, with the referrers API: ``Client(store=InMemoryStore())`` needs no server or disk.

:class:`RekorServer` is a transparency log you can run in a test: a Rekor v1 HTTP server on
127.0.0.1 (a free port, in a thread) with a real append-only Merkle tree, a real ECDSA P-256
log key, signed entry timestamps, inclusion proofs and signed checkpoints. Entries it returns
verify offline with :func:`imagesig.tlog.verify.verify_log_entry` against
:meth:`RekorServer.trusted_root`, exactly like entries from the public-good Rekor do.

It speaks the parts of the v1 API that signing and verification use:

* ``POST /api/v1/log/entries`` — ``hashedrekord`` and ``dsse`` 0.0.1 proposals, checked the
  way Rekor checks them (the signature must verify with the submitted key or certificate, and
  the key/hash pair must be one Rekor allows); ``201`` with ``{entryID: entry}`` and
  ``Location``, ``400`` with ``{code, message}`` when the proposal does not validate, ``409``
  with the existing entry's ``Location`` for a duplicate;
* ``GET /api/v1/log/entries/{uuid or entryID}`` and ``GET /api/v1/log/entries?logIndex=N``
  (``404`` with an empty body when there is no such entry, as Rekor answers);
* ``POST /api/v1/index/retrieve`` by ``hash`` (``sha256:<hex>``, ``sha512:<hex>`` or bare hex);
* ``GET /api/v1/log`` (tree size, root hash, signed tree head, tree ID) and
  ``GET /api/v1/log/publicKey`` (PEM).

Entry keys are 80-hex entry IDs (16 hex digits of tree ID, then the UUID) and ``Location``
headers are relative paths, as Rekor sends them. Differences from Rekor: ``hashedrekord``
entries with Ed25519 keys are refused (Rekor checks those as Ed25519ph, which ``cryptography``
does not implement); only ``hash`` index queries are supported; there is one shard.

Tests steer it with :attr:`RekorServer.delay`, :meth:`~RekorServer.fail_next`,
:meth:`~RekorServer.respond_next`, :meth:`~RekorServer.oversize_next` and
:attr:`RekorServer.clock`, and read :attr:`RekorServer.requests`.

Example:
    >>> with RekorServer() as rekor, RekorClient(rekor.url) as client:  # doctest: +SKIP
    ...     entry = client.create_entry(proposed)
    ...     verify_log_entry(entry, rekor.trusted_root(), expected)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from imagesig.oci.memory import InMemoryStore
from imagesig.tlog.checkpoint import Checkpoint, sign_checkpoint
from imagesig.tlog.entries import LogEntry, dsse_body, hashedrekord_body
from imagesig.tlog.merkle import MerkleTree, leaf_hash
from imagesig.tlog.trust import TrustedRoot

__all__ = ["MAX_REQUEST_BYTES", "InMemoryStore", "RecordedRequest", "RekorServer"]

MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""Larger request bodies are refused with 413."""

_ENTRIES = "/api/v1/log/entries"
_ENTRY_ID = re.compile(r"(?:[0-9a-f]{16})?[0-9a-f]{64}")
_HASH_QUERY = re.compile(r"(sha1:[0-9a-f]{40}|sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})")
_HASH_PREFIX_BY_LENGTH = {40: "sha1", 64: "sha256", 128: "sha512"}
_HASHES: Mapping[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# The key/hash pairs Rekor allows for hashedrekord entries (its default algorithm registry).
_ECDSA_HASH = {"secp256r1": "sha256", "secp384r1": "sha384", "secp521r1": "sha512"}
_RSA_SIZES = frozenset({2048, 3072, 4096})
_IN_TOTO = "application/vnd.in-toto+json"
_CHUNK = 64 * 1024


@attrs.frozen
class RecordedRequest:
    """One request the server received (recorded on arrival, before any delay).

    Attributes:
        method: ``GET`` or ``POST``...
        path: the path, without the query.
        query: the raw query string.
        body: the request body.
    """

    method: str
    path: str
    query: str
    body: bytes


@attrs.frozen
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class _Stored:
    body: bytes
    integrated_time: int
    leaf: bytes


class _BadRequestError(Exception):
    """A proposal Rekor would refuse with 400; the message goes into the answer."""


class RekorServer:
    """A Rekor v1 transparency log on 127.0.0.1, for tests.

    Use it as a context manager (or call :meth:`start` and :meth:`close`). It is thread-safe;
    every instance has its own port, key and tree, so parallel tests do not interfere.

    Args:
        private_key: the log's ECDSA P-256 key; default a fresh one.
        hostname: the name in checkpoints (origin ``"<hostname> - <tree ID>"``, as Rekor writes).
        tree_id: the tree ID (a positive 63-bit integer); default a random one.
        clock: returns the ``integratedTime`` (Unix seconds) for new entries; default the
            current time.

    Raises:
        ValueError: ``private_key`` is not a P-256 key, or ``tree_id`` is out of range.
    """

    def __init__(
        self,
        *,
        private_key: ec.EllipticCurvePrivateKey | None = None,
        hostname: str = "rekor.imagesig.test",
        tree_id: int | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        key = private_key or ec.generate_private_key(ec.SECP256R1())
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("the log key must be an ECDSA P-256 private key")
        tree = tree_id if tree_id is not None else secrets.randbelow(2**62) + 1
        if not 0 < tree < 2**63:
            raise ValueError("tree_id must be a positive 63-bit integer")
        self._key = key
        self._public_key_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._log_id = hashlib.sha256(spki).digest()
        self.hostname = hostname
        self.tree_id = tree
        self.clock: Callable[[], int] = clock or (lambda: int(time.time()))
        self.delay: float = 0.0
        """Seconds to wait before answering each request (after reading it)."""
        self._lock = threading.Lock()
        self._tree = MerkleTree()
        self._entries: list[_Stored] = []
        self._by_leaf: dict[bytes, int] = {}
        self._index: dict[str, list[int]] = {}
        self._requests: list[RecordedRequest] = []
        self._canned: list[_Response] = []
        self._oversize: tuple[int, bool] | None = None
        self._closing = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> RekorServer:
        """Start serving (idempotent); return ``self``."""
        if self._httpd is None:
            self._closing.clear()
            self._httpd = _HTTPServer(self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="imagesig-rekor-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; requests still being delayed are abandoned."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._closing.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> RekorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what tests read ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:<port>``) to give a Rekor client.

        Raises:
            RuntimeError: the server is not running.
        """
        if self._httpd is None:
            raise RuntimeError("RekorServer is not running (use it as a context manager)")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def log_id(self) -> bytes:
        """SHA-256 of the log key's DER SubjectPublicKeyInfo (what entries carry as logID)."""
        return self._log_id

    @property
    def public_key_pem(self) -> bytes:
        """The log's public key, PEM."""
        return self._public_key_pem

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        """The log's signing key (to hand-build entries in tests)."""
        return self._key

    @property
    def origin(self) -> str:
        """The checkpoint origin line: ``"<hostname> - <tree ID>"``."""
        return f"{self.hostname} - {self.tree_id}"

    @property
    def size(self) -> int:
        """Entries in the log."""
        with self._lock:
            return len(self._entries)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since the start or :meth:`clear_requests`, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def trusted_root(self) -> TrustedRoot:
        """A trusted root holding only this log (key and URL).

        Returns:
            The :class:`~imagesig.tlog.trust.TrustedRoot`.

        Raises:
            RuntimeError: the server is not running (the root names its URL).
        """
        return TrustedRoot.from_rekor_public_key(self._public_key_pem, base_url=self.url)

    def entry_id(self, index: int) -> str:
        """The 80-hex entry ID of the entry at ``index``.

        Raises:
            IndexError: there is no such entry.
        """
        with self._lock:
            return self._entry_id(self._entries[index].leaf)

    def entry_response(self, entry: int | str) -> dict[str, Any]:
        """The JSON document Rekor answers for an entry (``{entryID: {...}}``).

        Args:
            entry: a log index, UUID or entry ID.

        Returns:
            The document, with an inclusion proof at the current tree size.

        Raises:
            KeyError: there is no such entry.
        """
        with self._lock:
            index = entry if isinstance(entry, int) else self._lookup(entry.lower())
            if index is None or not 0 <= index < len(self._entries):
                raise KeyError(entry)
            return self._document(index)

    # -- failure injection -------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 503,
        count: int = 1,
        *,
        retry_after: float | None = None,
        message: str = "injected failure",
    ) -> None:
        """Answer the next ``count`` requests with ``status`` and a Rekor error body.

        Args:
            status: the HTTP status.
            count: how many requests (whatever their route).
            retry_after: a ``Retry-After`` header value in seconds.
            message: the ``message`` of the ``{code, message}`` body.
        """
        headers = (("Retry-After", f"{retry_after:g}"),) if retry_after is not None else ()
        body = json.dumps({"code": status, "message": message}).encode()
        self.respond_next(status, body, headers=dict(headers), count=count)

    def respond_next(
        self,
        status: int,
        body: Any = b"",
        *,
        headers: Mapping[str, str] | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` requests with a canned response (before any routing).

        Args:
            status: the HTTP status.
            body: ``bytes`` or ``str`` sent as they are; anything else is sent as JSON (for
                example another entry's :meth:`entry_response`).
            headers: extra headers (``Location``...).
            count: how many requests.
        """
        if isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = json.dumps(body).encode()
        canned = _Response(status, raw, headers=tuple((headers or {}).items()))
        with self._lock:
            self._canned.extend([canned] * count)

    def oversize_next(self, size: int = 10 * 1024 * 1024, *, declare_length: bool = True) -> None:
        """Answer the next request with ``200`` and a ``size``-byte body.

        Args:
            size: body length in bytes.
            declare_length: send ``Content-Length`` (a client can refuse before reading);
                otherwise the body runs until the connection closes.
        """
        with self._lock:
            self._oversize = (size, declare_length)

    # -- request handling --------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        method = handler.command
        target = urlsplit(handler.path)
        body = b""
        if method in ("POST", "PUT", "PATCH"):
            length = handler.headers.get("Content-Length", "")
            if not length.isdigit():
                _write(handler, _error(411, "Content-Length required"), close=True)
                return
            if int(length) > MAX_REQUEST_BYTES:
                _write(handler, _error(413, "request body too large"), close=True)
                return
            body = handler.rfile.read(int(length))
        with self._lock:
            self._requests.append(RecordedRequest(method, target.path, target.query, body))
        if self.delay > 0 and self._closing.wait(self.delay):
            handler.close_connection = True
            return
        with self._lock:
            canned = self._canned.pop(0) if self._canned else None
            oversize = None
            if canned is None:
                oversize, self._oversize = self._oversize, None
        if canned is not None:
            _write(handler, canned)
            return
        if oversize is not None:
            _write_oversize(handler, *oversize)
            return
        try:
            response = self._route(method, target.path, target.query, body)
        except Exception as exc:  # a bug in the fake must still answer, as Rekor would
            response = _error(500, f"internal error: {type(exc).__name__}")
        _write(handler, response)

    def _route(self, method: str, path: str, query: str, body: bytes) -> _Response:
        routes: dict[tuple[str, str], Callable[[], _Response]] = {
            ("GET", "/api/v1/log"): self._log_info,
            ("GET", "/api/v1/log/publicKey"): lambda: _Response(
                200, self._public_key_pem, "application/x-pem-file"
            ),
            ("GET", _ENTRIES): lambda: self._get_by_index(query),
            ("POST", _ENTRIES): lambda: self._create(body),
            ("POST", "/api/v1/index/retrieve"): lambda: self._search(body),
        }
        handler = routes.get((method, path))
        if handler is not None:
            return handler()
        if path.startswith(_ENTRIES + "/") and method == "GET":
            return self._get_by_id(path[len(_ENTRIES) + 1 :])
        if any(path == known for _, known in routes) or path.startswith(_ENTRIES + "/"):
            return _error(405, "method not allowed")
        return _Response(404)

    def _log_info(self) -> _Response:
        with self._lock:
            size = self._tree.size
            root = self._tree.root()
            head = self._checkpoint(size, root)
        info = {
            "rootHash": root.hex(),
            "treeSize": size,
            "signedTreeHead": head,
            "treeID": str(self.tree_id),
        }
        return _json(200, info)

    def _get_by_index(self, query: str) -> _Response:
        values = parse_qs(query).get("logIndex", [])
        if len(values) != 1 or not values[0].isdigit() or len(values[0]) > 19:
            return _error(400, "logIndex must be a non-negative integer")
        index = int(values[0])
        with self._lock:
            if index >= len(self._entries):
                return _Response(404)
            return _json(200, self._document(index))

    def _get_by_id(self, entry_id: str) -> _Response:
        lowered = entry_id.lower()
        if not _ENTRY_ID.fullmatch(lowered):
            return _error(400, "validation error: entryUUID must be 64 or 80 hex digits")
        with self._lock:
            index = self._lookup(lowered)
            if index is None:
                return _Response(404)
            return _json(200, self._document(index))

    def _search(self, body: bytes) -> _Response:
        try:
            query = json.loads(body)
        except (ValueError, RecursionError):
            return _error(400, "request body is not JSON")
        wanted = query.get("hash") if isinstance(query, dict) else None
        if not isinstance(wanted, str):
            return _error(400, "this server searches by hash only")
        key = wanted.lower()
        if ":" not in key:
            key = f"{_HASH_PREFIX_BY_LENGTH.get(len(key), 'sha256')}:{key}"
        if not _HASH_QUERY.fullmatch(key):
            return _error(400, "validation error: hash is not a sha1, sha256 or sha512 digest")
        with self._lock:
            found = [self._entry_id(self._entries[i].leaf) for i in self._index.get(key, [])]
        return _json(200, found)

    def _create(self, body: bytes) -> _Response:
        try:
            canonical, keys = _canonicalize(body)
        except _BadRequestError as exc:
            return _error(400, f"error processing entry: {exc}")
        leaf = leaf_hash(canonical)
        with self._lock:
            existing = self._by_leaf.get(leaf)
            if existing is not None:
                entry_id = self._entry_id(leaf)
                return _error(
                    409,
                    "an equivalent entry already exists in the transparency log with "
                    f"UUID {entry_id}",
                    headers=(("Location", f"{_ENTRIES}/{entry_id}"),),
                )
            index = self._tree.append(canonical)
            self._entries.append(_Stored(canonical, int(self.clock()), leaf))
            self._by_leaf[leaf] = index
            for key in keys:
                self._index.setdefault(key, []).append(index)
            document = self._document(index)
            entry_id = self._entry_id(leaf)
        return _json(
            201, document, headers=(("Location", f"{_ENTRIES}/{entry_id}"), ("ETag", entry_id))
        )

    # -- entry documents (call with the lock held) -------------------------------------------

    def _entry_id(self, leaf: bytes) -> str:
        return f"{self.tree_id:016x}{leaf.hex()}"

    def _lookup(self, entry_id: str) -> int | None:
        if len(entry_id) == 80 and entry_id[:16] != f"{self.tree_id:016x}":
            return None
        try:
            return self._by_leaf.get(bytes.fromhex(entry_id[-64:]))
        except ValueError:
            return None

    def _checkpoint(self, size: int, root: bytes) -> str:
        checkpoint = Checkpoint(origin=self.origin, tree_size=size, root_hash=root, other=())
        return sign_checkpoint(checkpoint, self._key, name=self.hostname, log_id=self._log_id)

    def _document(self, index: int) -> dict[str, Any]:
        stored = self._entries[index]
        size = self._tree.size
        root = self._tree.root()
        proof = self._tree.inclusion_proof(index, size)
        entry = LogEntry(
            body=stored.body,
            integrated_time=stored.integrated_time,
            log_id=self._log_id,
            log_index=index,
        )
        promise = self._key.sign(entry.set_payload(), ec.ECDSA(hashes.SHA256()))
        return {
            self._entry_id(stored.leaf): {
                "body": base64.b64encode(stored.body).decode(),
                "integratedTime": stored.integrated_time,
                "logID": self._log_id.hex(),
                "logIndex": index,
                "verification": {
                    "inclusionProof": {
                        "checkpoint": self._checkpoint(size, root),
                        "hashes": [item.hex() for item in proof],
                        "logIndex": index,
                        "rootHash": root.hex(),
                        "treeSize": size,
                    },
                    "signedEntryTimestamp": base64.b64encode(promise).decode(),
                },
            }
        }


# -- validating proposals like Rekor -----------------------------------------------------------


def _canonicalize(raw: bytes) -> tuple[bytes, list[str]]:
    """Check a proposed entry; return its canonical body and its search-index keys."""
    try:
        proposed = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _BadRequestError("request body is not JSON") from exc
    if not isinstance(proposed, dict):
        raise _BadRequestError("a proposed entry is a JSON object")
    kind, version, spec = proposed.get("kind"), proposed.get("apiVersion"), proposed.get("spec")
    if not isinstance(spec, dict):
        raise _BadRequestError("missing spec")
    try:
        if (kind, version) == ("hashedrekord", "0.0.1"):
            return _hashedrekord(spec)
        if (kind, version) == ("dsse", "0.0.1"):
            return _dsse(spec)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        if isinstance(exc, _BadRequestError):
            raise
        raise _BadRequestError(f"malformed {kind} entry: {type(exc).__name__}") from exc
    raise _BadRequestError(
        f"unsupported entry kind {str(kind)[:40]!r} version {str(version)[:20]!r}"
    )


def _hashedrekord(spec: dict[str, Any]) -> tuple[bytes, list[str]]:
    signature = base64.b64decode(spec["signature"]["content"], validate=True)
    key, canonical_pem = _load_verifier(
        base64.b64decode(spec["signature"]["publicKey"]["content"], validate=True)
    )
    digest = spec["data"]["hash"]
    algorithm = digest.get("algorithm", "sha256")
    value = digest["value"]
    if algorithm not in _HASHES or not isinstance(value, str):
        raise _BadRequestError("unsupported hash algorithm")
    if len(value) != _HASHES[algorithm]().digest_size * 2:
        raise _BadRequestError("invalid value for hash")
    digest_bytes = bytes.fromhex(value)
    chosen = _HASHES[algorithm]()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if _ECDSA_HASH.get(key.curve.name) != algorithm:
                raise _BadRequestError("entry algorithms are not allowed")
            key.verify(signature, digest_bytes, ec.ECDSA(Prehashed(chosen)))
        elif isinstance(key, rsa.RSAPublicKey):
            if key.key_size not in _RSA_SIZES or algorithm != "sha256":
                raise _BadRequestError("entry algorithms are not allowed")
            key.verify(signature, digest_bytes, padding.PKCS1v15(), Prehashed(chosen))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            raise _BadRequestError(
                "hashedrekord Ed25519 signatures are Ed25519ph, which this server cannot check"
            )
        else:
            raise _BadRequestError("unsupported public key type")
    except InvalidSignature as exc:
        raise _BadRequestError("verifying signature: invalid signature") from exc
    body = hashedrekord_body(
        signature=signature, public_key_pem=canonical_pem, digest_hex=value, algorithm=algorithm
    )
    keys = [f"{algorithm}:{value}".lower(), hashlib.sha256(canonical_pem).hexdigest()]
    return body, keys


def _dsse(spec: dict[str, Any]) -> tuple[bytes, list[str]]:
    if {"envelopeHash", "payloadHash", "signatures"} & spec.keys():
        raise _BadRequestError("either proposedContent or the computed fields, but not both")
    content = spec["proposedContent"]
    envelope_text = content["envelope"]
    if not isinstance(envelope_text, str):
        raise _BadRequestError("proposed content envelope is missing")
    envelope = json.loads(envelope_text)
    payload_type = envelope["payloadType"]
    payload = _b64_either(envelope["payload"])
    signatures = envelope["signatures"]
    if not isinstance(payload_type, str) or not isinstance(signatures, list) or not signatures:
        raise _BadRequestError("DSSE envelope must contain 1 or more signatures")
    verifiers = [
        _load_verifier(base64.b64decode(item, validate=True)) for item in content["verifiers"]
    ]
    if not verifiers:
        raise _BadRequestError("missing proposed verifiers")
    pae = b"DSSEv1 %d %b %d %b" % (
        len(payload_type.encode()),
        payload_type.encode(),
        len(payload),
        payload,
    )
    recorded: dict[str, bytes] = {}
    for item in signatures:
        text = item["sig"]
        if text in recorded:
            continue
        signature = _b64_either(text)
        match = next((pem for key, pem in verifiers if _verifies(key, signature, pae)), None)
        if match is None:
            raise _BadRequestError("all signatures must have a key that verifies it")
        recorded[text] = match
    # Rekor records each signature as the envelope's text, with the key that verified it.
    body = dsse_body(
        envelope=envelope_text.encode(),
        payload=payload,
        signatures=sorted(recorded.items()),
    )
    keys = [f"sha256:{hashlib.sha256(pem).hexdigest()}" for pem in recorded.values()]
    keys.append(f"sha256:{hashlib.sha256(payload).hexdigest()}")
    keys.append(f"sha256:{hashlib.sha256(envelope_text.encode()).hexdigest()}")
    if payload_type == _IN_TOTO:
        keys.extend(_subject_keys(payload))
    return body, keys


def _subject_keys(payload: bytes) -> list[str]:
    try:
        statement = json.loads(payload)
        subjects = statement.get("subject") or []
        return [
            f"{algorithm}:{value}".lower()
            for subject in subjects[:1024]
            for algorithm, value in (subject.get("digest") or {}).items()
            if isinstance(value, str)
        ]
    except (ValueError, AttributeError, TypeError, RecursionError):
        return []


def _load_verifier(pem: bytes) -> tuple[Any, bytes]:
    """The public key in a PEM key or certificate, and its canonical PEM (as Rekor stores it)."""
    try:
        if b"-----BEGIN CERTIFICATE-----" in pem:
            certificate = x509.load_pem_x509_certificate(pem)
            return certificate.public_key(), certificate.public_bytes(serialization.Encoding.PEM)
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise _BadRequestError("public key provided could not be parsed") from exc
    canonical = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, canonical


def _verifies(key: Any, signature: bytes, message: bytes) -> bool:
    # DSSE entries: Rekor loads every key with SHA-256 (Ed25519 signs the message itself).
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _b64_either(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError("expected a base64 string")
    padded = value + "=" * (-len(value) % 4)
    if "-" in value or "_" in value:
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded, validate=True)


# -- HTTP plumbing -----------------------------------------------------------------------------


def _json(status: int, document: Any, *, headers: Sequence[tuple[str, str]] = ()) -> _Response:
    return _Response(status, json.dumps(document).encode(), headers=tuple(headers))


def _error(status: int, message: str, *, headers: Sequence[tuple[str, str]] = ()) -> _Response:
    return _json(status, {"code": status, "message": message}, headers=headers)


def _write(handler: BaseHTTPRequestHandler, response: _Response, *, close: bool = False) -> None:
    try:
        handler.send_response(response.status)
        if response.body or response.status not in (204, 304):
            handler.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(response.body)))
        if close:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        handler.wfile.write(response.body)
    except OSError:  # the client gave up (a timeout in a test): nothing to answer
        handler.close_connection = True


def _write_oversize(handler: BaseHTTPRequestHandler, size: int, declare_length: bool) -> None:
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if declare_length:
            handler.send_header("Content-Length", str(size))
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        chunk = b" " * _CHUNK
        remaining = size
        while remaining > 0:
            handler.wfile.write(chunk[: min(remaining, _CHUNK)])
            remaining -= _CHUNK
    except OSError:
        handler.close_connection = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        cast(_HTTPServer, self.server).rekor._handle(self)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, rekor: RekorServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rekor = rekor

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up mid-answer on purpose (timeouts, refused oversized bodies).
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)
