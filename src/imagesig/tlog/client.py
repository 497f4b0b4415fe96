"""``RekorClient`` and ``AsyncRekorClient``: the Rekor v1 REST API over httpx.

Both classes are thin drivers around :class:`RekorProtocol`, which holds every request and
decision as an I/O-free flow (see :mod:`imagesig._flow`) on top of the HTTP effect shared with
the registry code (:func:`imagesig._http.send`). What the protocol guarantees:

* every response is read under a cap (:data:`MAX_ENTRY_BYTES`, :data:`MAX_SEARCH_BYTES`,
  :data:`MAX_PUBLIC_KEY_BYTES`, :data:`MAX_LOG_INFO_BYTES`); a larger one raises
  :class:`~imagesig.errors.SizeLimitExceededError` without being read to the end;
* entry UUIDs, log indexes and hashes are validated before they go into a URL or a query;
* a returned entry is the one asked for: its UUID is the Merkle leaf hash of its body, the UUID
  (or log index) is the requested one, and an entry returned by :meth:`RekorProtocol.create_entry`
  records exactly the proposed signature, key and artifact hash (or DSSE envelope). Anything
  else raises :class:`~imagesig.errors.RekorError`; the client never builds an entry itself;
* answers come from the Rekor origin only: a redirect elsewhere, or a ``409 Conflict`` whose
  ``Location`` names another origin, is refused;
* no credentials are ever attached (Rekor needs none), not even ``.netrc`` ones.

The client checks that Rekor answered what was asked; it does not check that Rekor is honest.
Pass the entry to :func:`imagesig.tlog.verify.verify_log_entry` with a trusted root to verify
the signed entry timestamp, the inclusion proof and the checkpoint.

Retries. Reads (``GET`` and the search ``POST``) are retried on connection errors, timeouts and
HTTP 429/500/502/503/504 as :class:`~imagesig._http.RetryPolicy` says. Creating an entry is
*not idempotent*, so :meth:`RekorProtocol.create_entry` is re-sent only when the request
provably was not processed: the connection could not be opened, or Rekor answered 429 or 503.
It is never re-sent after a timeout or a dropped connection once the request went out, nor
after 500/502/504: the entry may exist by then, and a second submission could record it twice
(on a log that was sharded or rotated meanwhile). Such a failure raises
:class:`~imagesig.errors.RekorTimeoutError` or :class:`~imagesig.errors.RekorError`; submitting
the same entry again is then safe, because Rekor answers ``409 Conflict`` for an entry it
already holds and the client returns the existing entry.

Rekor v1 quirks the client absorbs: entry keys are *entry IDs* (16 hex digits of tree ID
followed by the 64-hex UUID) or bare UUIDs; ``409 Conflict`` carries the existing entry's
``Location`` as a path relative to the request; a ``404`` has an empty body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any, NoReturn

import attrs
import httpx
from cryptography.hazmat.primitives import serialization

from imagesig._flow import Flow, Sleep, drive_async, drive_sync
from imagesig._http import (
    HTTPEnv,
    OwnedAsyncHTTPClient,
    OwnedHTTPClient,
    Received,
    RetryPolicy,
    send,
)
from imagesig.errors import (
    ImageSigError,
    LogEntryMismatchError,
    RegistryConnectionError,
    RegistryError,
    RegistryTimeoutError,
    RekorConnectionError,
    RekorError,
    RekorTimeoutError,
    SizeLimitExceededError,
    TransparencyLogError,
    redact_url,
)
from imagesig.tlog.entries import LogEntry, parse_body
from imagesig.tlog.merkle import leaf_hash
from imagesig.tlog.trust import DEFAULT_REKOR_URL
from imagesig.tlog.verify import ExpectedEntry, verify_entry_matches

__all__ = [
    "DEFAULT_REKOR_URL",
    "DEFAULT_TIMEOUT",
    "MAX_ENTRY_BYTES",
    "MAX_LOG_INFO_BYTES",
    "MAX_PUBLIC_KEY_BYTES",
    "MAX_SEARCH_BYTES",
    "AsyncRekorClient",
    "LogInfo",
    "RekorClient",
    "RekorProtocol",
    "RetryPolicy",
    "normalize_entry_id",
]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

MAX_ENTRY_BYTES = 1024 * 1024
"""Largest response holding one log entry (create, get by UUID, get by index)."""
MAX_SEARCH_BYTES = 4 * 1024 * 1024
"""Largest search (index retrieve) response."""
MAX_PUBLIC_KEY_BYTES = 64 * 1024
"""Largest public-key (PEM) response."""
MAX_LOG_INFO_BYTES = 1024 * 1024
"""Largest log-info response (it lists every inactive shard)."""

_ENTRY_ID = re.compile(r"(?:[0-9a-f]{16})?[0-9a-f]{64}")
_UUID_HEX = 64
_SEARCH_HASH_LENGTHS = {"sha256": 64, "sha512": 128}
_TREE_ID = re.compile(r"[0-9]{1,20}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_INACTIVE_SHARDS = 1000
_JSON = "application/json"
_RETRY_READ_STATUSES = frozenset({429, 500, 502, 503, 504})
_RETRY_CREATE_STATUSES = frozenset({429, 503})
_MAYBE_CREATED = (
    "the entry may have been logged anyway: submit it again (Rekor then answers 409 and the "
    "client returns the existing entry)"
)
# Failures that happen before a request leaves: safe to resend even a create.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@attrs.frozen
class LogInfo:
    """The state of a Rekor log (``GET /api/v1/log``), as Rekor reports it, unverified.

    Verify ``signed_tree_head`` with :func:`imagesig.tlog.checkpoint.verify_checkpoint` before
    relying on it.

    Attributes:
        tree_size: entries in the active tree.
        root_hash: Merkle root of the active tree.
        signed_tree_head: the signed checkpoint (signed note) of that tree head.
        tree_id: the active tree's id (decimal digits).
        inactive_shards: the same facts for each frozen, earlier tree of the log.
    """

    tree_size: int
    root_hash: bytes
    signed_tree_head: str
    tree_id: str
    inactive_shards: tuple[LogInfo, ...] = ()


def normalize_entry_id(entry_id: str) -> str:
    """Return ``entry_id`` lower-cased, after checking it is a Rekor UUID or entry ID.

    Args:
        entry_id: 64 hex digits (a UUID: the entry's Merkle leaf hash) or 80 (an entry ID: 16
            hex digits of tree ID, then the UUID).

    Returns:
        The id in lower case.

    Raises:
        ValueError: ``entry_id`` is neither.
    """
    if not isinstance(entry_id, str) or len(entry_id) > 80:
        raise ValueError("a Rekor entry UUID is 64 or 80 hexadecimal digits")
    lowered = entry_id.lower()
    if not _ENTRY_ID.fullmatch(lowered):
        raise ValueError(f"not a Rekor entry UUID: {entry_id[:80]!r}")
    return lowered


def _search_hash(digest: str) -> str:
    if not isinstance(digest, str) or len(digest) > 140:
        raise ValueError("expected a hex digest, optionally prefixed with sha256: or sha512:")
    algorithm, separator, value = digest.lower().rpartition(":")
    if not separator:
        algorithm = "sha256"
    length = _SEARCH_HASH_LENGTHS.get(algorithm)
    if length is None or len(value) != length or not re.fullmatch(r"[0-9a-f]+", value):
        raise ValueError(
            f"not a sha256 or sha512 hex digest: {digest[:80]!r} "
            "(expected <hex> or sha256:<hex> / sha512:<hex>)"
        )
    return f"{algorithm}:{value}"


class RekorProtocol:
    """Every Rekor v1 operation as an I/O-free flow; shared by the sync and async clients.

    Args:
        url: the Rekor base URL (``https://host[:port][/prefix]``).
        retry: retry policy (see the module docstring for what is retried when).

    Raises:
        ValueError: ``url`` is not an absolute HTTP(S) URL without credentials, query or
            fragment.
    """

    def __init__(self, url: str = DEFAULT_REKOR_URL, *, retry: RetryPolicy | None = None) -> None:
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"Rekor URL must be an absolute http(s) URL: {redact_url(url)}")
        if parsed.query or parsed.fragment:
            raise ValueError(f"Rekor URL must not have a query or fragment: {redact_url(url)}")
        if parsed.userinfo:
            # Rekor needs no credentials and the client sends none; refusing them here also
            # keeps them out of every error message and context.
            raise ValueError(f"Rekor URL must not carry credentials: {redact_url(url)}")
        self.url = str(parsed.copy_with(path=parsed.path.rstrip("/") or "/")).rstrip("/")
        self.retry = retry or RetryPolicy()
        self._origin = parsed.copy_with(path="/", query=None, fragment=None)
        self._prefix = parsed.path.rstrip("/")

    # -- operations --------------------------------------------------------------------------

    def create_entry(self, proposed: Mapping[str, Any]) -> Flow[LogEntry]:
        """Flow of :meth:`RekorClient.create_entry`."""
        expected = _Proposal.from_proposed(proposed)
        content = json.dumps(proposed, separators=(",", ":"), ensure_ascii=False).encode()
        what = f"new {expected.kind} entry"
        received = yield from self._send(
            "POST",
            self._url("api/v1/log/entries"),
            what,
            max_bytes=MAX_ENTRY_BYTES,
            content=content,
            idempotent=False,
        )
        if received.status_code == 201:
            entry = self._entry_from(received, what)
        elif received.status_code == 409:
            entry = yield from self._existing_entry(received, what)
        elif received.status_code >= 500:
            _raise_for_status(received, f"Rekor failed the {what}", hint=_MAYBE_CREATED)
        else:
            _raise_for_status(received, f"Rekor refused the {what}")
        expected.check(entry)
        return entry

    def get_entry(self, uuid: str) -> Flow[LogEntry]:
        """Flow of :meth:`RekorClient.get_entry`."""
        wanted = normalize_entry_id(uuid)
        what = f"Rekor entry {wanted}"
        received = yield from self._get(self._url("api/v1/log/entries", wanted), what)
        if received.status_code != 200:
            _raise_for_status(received, f"could not get {what}")
        entry = self._entry_from(received, what)
        assert entry.uuid is not None
        returned = entry.uuid
        same_leaf = returned[-_UUID_HEX:] == wanted[-_UUID_HEX:]
        same_tree = len(wanted) == _UUID_HEX or len(returned) == _UUID_HEX or returned == wanted
        if not (same_leaf and same_tree):
            raise RekorError(
                f"Rekor answered entry {returned} when asked for {wanted}",
                url=self.url,
                check="uuid",
            )
        return entry

    def get_entry_by_index(self, index: int) -> Flow[LogEntry]:
        """Flow of :meth:`RekorClient.get_entry_by_index`."""
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(f"a log index is a non-negative integer, not {index!r}")
        what = f"Rekor entry at log index {index}"
        url = self._url("api/v1/log/entries").copy_merge_params({"logIndex": str(index)})
        received = yield from self._get(url, what)
        if received.status_code != 200:
            _raise_for_status(received, f"could not get {what}")
        entry = self._entry_from(received, what)
        if entry.log_index != index:
            raise RekorError(
                f"Rekor answered the entry at index {entry.log_index} when asked for {index}",
                url=self.url,
                check="log-index",
            )
        return entry

    def search_by_hash(self, digest_hex: str) -> Flow[list[str]]:
        """Flow of :meth:`RekorClient.search_by_hash`."""
        query = _search_hash(digest_hex)
        what = f"Rekor index search for {query}"
        content = json.dumps({"hash": query}).encode()
        received = yield from self._send(
            "POST",
            self._url("api/v1/index/retrieve"),
            what,
            max_bytes=MAX_SEARCH_BYTES,
            content=content,
        )
        if received.status_code != 200:
            _raise_for_status(received, f"{what} failed")
        found = _json(received, what)
        if not isinstance(found, list):
            raise RekorError(f"{what}: expected a JSON array of entry UUIDs", url=self.url)
        uuids: list[str] = []
        for item in found:
            try:
                uuid = normalize_entry_id(item)
            except ValueError as exc:
                raise RekorError(f"{what}: Rekor returned a malformed entry UUID") from exc
            if uuid not in uuids:
                uuids.append(uuid)
        return uuids

    def public_key(self) -> Flow[bytes]:
        """Flow of :meth:`RekorClient.public_key`."""
        what = "Rekor public key"
        received = yield from self._get(
            self._url("api/v1/log/publicKey"),
            what,
            max_bytes=MAX_PUBLIC_KEY_BYTES,
            accept="application/x-pem-file",
        )
        if received.status_code != 200:
            _raise_for_status(received, f"could not get the {what}")
        try:
            serialization.load_pem_public_key(received.content)
        except (ValueError, TypeError) as exc:
            raise RekorError(
                f"the {what} is not a PEM public key", url=self.url, check="public-key"
            ) from exc
        return received.content

    def log_info(self) -> Flow[LogInfo]:
        """Flow of :meth:`RekorClient.log_info`."""
        what = "Rekor log info"
        received = yield from self._get(self._url("api/v1/log"), what, max_bytes=MAX_LOG_INFO_BYTES)
        if received.status_code != 200:
            _raise_for_status(received, f"could not get the {what}")
        return _log_info(_json(received, what), what, nested=False)

    # -- plumbing ----------------------------------------------------------------------------

    def _url(self, path: str, *segments: str) -> httpx.URL:
        # Segments are validated (hex) by the caller: plain concatenation is safe.
        return self._origin.copy_with(path="/".join((self._prefix, path, *segments)))

    def _get(
        self,
        url: httpx.URL,
        what: str,
        *,
        max_bytes: int = MAX_ENTRY_BYTES,
        accept: str = _JSON,
    ) -> Flow[Received]:
        return (yield from self._send("GET", url, what, max_bytes=max_bytes, accept=accept))

    def _send(
        self,
        method: str,
        url: httpx.URL,
        what: str,
        *,
        max_bytes: int,
        content: bytes | None = None,
        accept: str = _JSON,
        idempotent: bool = True,
    ) -> Flow[Received]:
        """One request with the retry rules of the module docstring; errors become Rekor's.

        ``send()`` retries GETs itself and never retries a POST, so POSTs are retried here:
        a read (the search) like a GET, a create only when it provably was not processed.
        """
        headers = {"Accept": accept}
        if content is not None:
            headers["Content-Type"] = _JSON
        attempt = 0
        while True:
            try:
                received: Received = yield from send(
                    method,
                    url,
                    scope=None,
                    what=what,
                    max_bytes=max_bytes,
                    retry=self.retry,
                    headers=headers,
                    content=content,
                    context={"url": self.url},
                )
            except RegistryError as exc:
                if method == "POST" and _may_resend(exc, idempotent=idempotent):
                    delay = self.retry.delay(attempt, None)
                    if delay is not None:
                        attempt += 1
                        yield Sleep(delay)
                        continue
                sent = not isinstance(exc.__cause__, _NOT_SENT)
                raise self._translate(exc, what, maybe_created=sent and not idempotent) from exc
            statuses = _RETRY_READ_STATUSES if idempotent else _RETRY_CREATE_STATUSES
            if method == "POST" and received.status_code in statuses:
                delay = self.retry.delay(attempt, received.headers.get("retry-after"))
                if delay is not None:
                    attempt += 1
                    yield Sleep(delay)
                    continue
            if not _same_origin(received.url, self._origin):
                raise RekorError(
                    f"Rekor redirected the request for {what} to another origin "
                    f"({redact_url(received.url.copy_with(query=None))})",
                    url=self.url,
                )
            return received

    def _existing_entry(self, received: Received, what: str) -> Flow[LogEntry]:
        """Follow a ``409 Conflict`` to the entry Rekor already holds."""
        location = received.headers.get("location")
        if not location:
            _raise_for_status(received, f"Rekor already holds the {what} but did not say where")
        target = received.url.join(location)
        entries_path = "/".join((self._prefix, "api/v1/log/entries/"))
        if not _same_origin(target, self._origin) or not target.path.startswith(entries_path):
            raise RekorError(
                f"Rekor answered 409 for the {what} with a Location outside its entries API "
                f"({redact_url(target.copy_with(query=None))})",
                status_code=409,
                url=self.url,
            )
        try:
            entry_id = normalize_entry_id(target.path[len(entries_path) :])
        except ValueError as exc:
            raise RekorError(
                f"Rekor answered 409 for the {what} with a malformed entry Location",
                status_code=409,
                url=self.url,
            ) from exc
        return (yield from self.get_entry(entry_id))

    def _entry_from(self, received: Received, what: str) -> LogEntry:
        document = _json(received, what)
        if not isinstance(document, dict) or len(document) != 1:
            raise RekorError(
                f"{what}: expected a JSON object holding exactly one entry", url=self.url
            )
        (key,) = document
        try:
            entry_id = normalize_entry_id(key)
        except ValueError as exc:
            raise RekorError(f"{what}: the entry's key is not a UUID", url=self.url) from exc
        try:
            entry = LogEntry.from_rekor_response(document)
        except (ImageSigError, ValueError, TypeError, KeyError) as exc:
            raise RekorError(f"{what}: Rekor returned a malformed entry", url=self.url) from exc
        if leaf_hash(entry.body).hex() != entry_id[-_UUID_HEX:]:
            raise RekorError(
                f"{what}: the entry's UUID {entry_id} is not the leaf hash of its body",
                url=self.url,
                check="uuid",
            )
        if entry.uuid != entry_id:
            entry = attrs.evolve(entry, uuid=entry_id)
        return entry

    def _translate(self, exc: RegistryError, what: str, *, maybe_created: bool) -> RekorError:
        if isinstance(exc, RegistryTimeoutError):
            return RekorTimeoutError(
                f"Rekor at {redact_url(self.url)} timed out ({what})",
                url=self.url,
                hint=_MAYBE_CREATED if maybe_created else "raise the timeout, or retry later",
            )
        if isinstance(exc, RegistryConnectionError):
            return RekorConnectionError(
                f"could not reach Rekor at {redact_url(self.url)} ({what})",
                url=self.url,
                hint="check the Rekor URL, proxy settings and network access",
            )
        return RekorError(
            f"{exc.message} (Rekor at {redact_url(self.url)})",
            url=self.url,
            hint=_MAYBE_CREATED if maybe_created else None,
        )


# -- what a created entry must record ---------------------------------------------------------


@attrs.frozen
class _Proposal:
    """What the entry Rekor returns for a proposal must record.

    Each group lists the acceptable :class:`ExpectedEntry` for one signature of the proposal
    (a DSSE signature may be recorded with any of the proposed verifiers); every group must
    match. Matching is :func:`~imagesig.tlog.verify.verify_entry_matches`, the check offline
    verification uses, so Rekor's re-encoding of keys and signatures is allowed for.
    """

    kind: str
    api_version: str
    groups: tuple[tuple[ExpectedEntry, ...], ...]

    @classmethod
    def from_proposed(cls, proposed: Mapping[str, Any]) -> _Proposal:
        if not isinstance(proposed, Mapping):
            raise TypeError("a proposed entry is a JSON object (a dict)")
        kind = proposed.get("kind")
        api_version = proposed.get("apiVersion")
        spec = proposed.get("spec")
        if not isinstance(kind, str) or not isinstance(api_version, str):
            raise ValueError("a proposed entry needs string 'kind' and 'apiVersion'")
        if not isinstance(spec, Mapping):
            raise ValueError("a proposed entry needs a 'spec' object")
        try:
            if (kind, api_version) == ("hashedrekord", "0.0.1"):
                return cls(kind, api_version, _hashedrekord_expectations(spec))
            if (kind, api_version) == ("dsse", "0.0.1"):
                return cls(kind, api_version, _dsse_expectations(spec))
        except (KeyError, TypeError, ValueError, binascii.Error, TransparencyLogError) as exc:
            raise ValueError(f"malformed {kind} {api_version} proposed entry: {exc}") from exc
        return cls(kind, api_version, ())

    def check(self, entry: LogEntry) -> None:
        """Raise :class:`RekorError` unless ``entry`` records this proposal."""
        try:
            body = parse_body(entry.body)
            if (body.kind, body.api_version) != (self.kind, self.api_version):
                raise LogEntryMismatchError(
                    f"Rekor recorded a {body.kind} {body.api_version} entry", check="body-kind"
                )
            for candidates in self.groups:
                _match_any(entry, candidates)
        except (TransparencyLogError, SizeLimitExceededError) as exc:
            raise RekorError(
                f"the entry Rekor returned does not record the proposed {self.kind} entry: "
                f"{exc.message}",
                check="body",
                uuid=entry.uuid,
            ) from exc


def _match_any(entry: LogEntry, candidates: tuple[ExpectedEntry, ...]) -> None:
    failure: TransparencyLogError | None = None
    for expected in candidates:
        try:
            verify_entry_matches(entry, expected)
        except LogEntryMismatchError as exc:
            failure = exc
        else:
            return
    assert failure is not None
    raise failure


def _b64_any(value: Any) -> bytes:
    """Standard or URL-safe base64, padded or not (DSSE allows each)."""
    if not isinstance(value, str):
        raise TypeError("expected a base64 string")
    text = value.rstrip("=").replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _hashedrekord_expectations(spec: Mapping[str, Any]) -> tuple[tuple[ExpectedEntry, ...], ...]:
    digest = spec["data"]["hash"]
    signature = spec["signature"]
    expected = ExpectedEntry.hashedrekord(
        signature=base64.b64decode(signature["content"], validate=True),
        public_key_pem=base64.b64decode(signature["publicKey"]["content"], validate=True),
        digest_hex=digest["value"],
        algorithm=digest.get("algorithm", "sha256"),
    )
    return ((expected,),)


def _dsse_expectations(spec: Mapping[str, Any]) -> tuple[tuple[ExpectedEntry, ...], ...]:
    content = spec["proposedContent"]
    envelope_text = content["envelope"]
    if not isinstance(envelope_text, str):
        raise TypeError("proposedContent.envelope must be the envelope's JSON text")
    envelope = json.loads(envelope_text)
    payload = _b64_any(envelope["payload"])
    verifiers = [base64.b64decode(item, validate=True) for item in content["verifiers"]]
    signatures = envelope["signatures"]
    if not verifiers or not isinstance(signatures, list) or not signatures:
        raise ValueError("a DSSE proposal needs signatures and verifiers")
    return tuple(
        tuple(
            ExpectedEntry.dsse(
                signature=_b64_any(item["sig"]),
                public_key_pem=pem,
                payload=payload,
                envelope=envelope_text.encode(),
            )
            for pem in verifiers
        )
        for item in signatures
    )


# -- response helpers -------------------------------------------------------------------------


def _may_resend(exc: RegistryError, *, idempotent: bool) -> bool:
    if isinstance(exc.__cause__, _NOT_SENT):
        return True
    return idempotent and isinstance(exc, (RegistryConnectionError, RegistryTimeoutError))


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key[:80]!r}")
        result[key] = value
    return result


def _json(received: Received, what: str) -> Any:
    try:
        return json.loads(received.content, object_pairs_hook=_reject_duplicate_keys)
    except (ValueError, RecursionError) as exc:
        raise RekorError(f"{what}: Rekor did not return valid JSON") from exc


def _rekor_message(received: Received) -> str:
    try:
        body = json.loads(received.content)
    except (ValueError, RecursionError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return ""
    printable = "".join(ch if ch.isprintable() else " " for ch in message[:300])
    return f": {printable}"


def _raise_for_status(received: Received, what: str, *, hint: str | None = None) -> NoReturn:
    status = received.status_code
    if hint is None and status == 404:
        hint = "the log holds no such entry"
    elif hint is None and status in (401, 403):
        hint = "this Rekor instance requires credentials imagesig does not send"
    raise RekorError(
        f"{what} (HTTP {status}{_rekor_message(received)})",
        status_code=status,
        hint=hint,
        url=str(received.url.copy_with(query=None)),
    )


def _log_info(document: Any, what: str, *, nested: bool) -> LogInfo:
    if not isinstance(document, dict):
        raise RekorError(f"{what}: expected a JSON object")
    size = document.get("treeSize")
    root = document.get("rootHash")
    head = document.get("signedTreeHead")
    tree_id = document.get("treeID")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise RekorError(f"{what}: treeSize is not a non-negative integer")
    if not isinstance(root, str) or not _HEX64.fullmatch(root.lower()):
        raise RekorError(f"{what}: rootHash is not 64 hexadecimal digits")
    if not isinstance(head, str) or not head:
        raise RekorError(f"{what}: signedTreeHead is missing")
    if not isinstance(tree_id, str) or not _TREE_ID.fullmatch(tree_id):
        raise RekorError(f"{what}: treeID is not a decimal number")
    shards: list[LogInfo] = []
    inactive = document.get("inactiveShards") or []
    if not nested:
        if not isinstance(inactive, list) or len(inactive) > _MAX_INACTIVE_SHARDS:
            raise RekorError(f"{what}: inactiveShards is not a (bounded) list")
        shards = [_log_info(item, f"{what} (inactive shard)", nested=True) for item in inactive]
    return LogInfo(
        tree_size=size,
        root_hash=bytes.fromhex(root),
        signed_tree_head=head,
        tree_id=tree_id,
        inactive_shards=tuple(shards),
    )


# -- the two drivers --------------------------------------------------------------------------


class _NoAuth(httpx.Auth):
    """Send requests as they are: Rekor needs no credentials, and gets none (not ``.netrc``)."""


class RekorClient(OwnedHTTPClient):
    """A Rekor v1 client with blocking I/O.

    Args:
        url: the Rekor base URL; default the public-good instance.
        verify: TLS verification: ``True``, ``False`` or an ``ssl.SSLContext`` (httpx's).
        proxy: proxy URL (httpx's ``proxy``).
        timeout: an ``httpx.Timeout`` or seconds.
        trust_env: read ``HTTPS_PROXY``, ``SSL_CERT_FILE``... from the environment.
        transport: a custom ``httpx`` transport (tests, unusual networks).
        retry: retry policy (reads; creates only when provably not processed).
        http_client: use this ``httpx.Client`` instead of creating one (its settings win;
            it is not closed by :meth:`close`).

    Raises:
        ValueError: ``url`` is not an absolute HTTP(S) URL.

    Example:
        >>> with RekorClient() as rekor:  # doctest: +SKIP
        ...     entry = rekor.get_entry_by_index(1)
    """

    def __init__(
        self,
        url: str = DEFAULT_REKOR_URL,
        *,
        verify: Any = True,
        proxy: Any = None,
        timeout: Any = DEFAULT_TIMEOUT,
        trust_env: bool = True,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.protocol = RekorProtocol(url, retry=retry)
        self._open_http(
            http_client,
            verify=verify,
            proxy=proxy,
            timeout=timeout,
            trust_env=trust_env,
            transport=transport,
        )
        self._env = HTTPEnv(self.http, _NoAuth())

    @property
    def url(self) -> str:
        """The Rekor base URL."""
        return self.protocol.url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_url(self.url)!r})"

    def create_entry(self, proposed: Mapping[str, Any]) -> LogEntry:
        """Submit a proposed entry; return the entry Rekor recorded.

        ``409 Conflict`` (Rekor already holds an equal entry) is not an error: the existing
        entry is fetched from the ``Location`` Rekor names (same origin only) and returned.

        Args:
            proposed: the proposed entry, e.g. from
                :func:`imagesig.tlog.entries.hashedrekord_proposed_entry` or
                :func:`imagesig.tlog.entries.dsse_proposed_entry`.

        Returns:
            The entry, with its signed entry timestamp and (when Rekor sent one) inclusion
            proof; not yet verified — see :func:`imagesig.tlog.verify.verify_log_entry`.

        Raises:
            ValueError: ``proposed`` is not a well-formed hashedrekord/dsse proposal.
            RekorError: Rekor refused the entry (``status_code`` 400: it did not validate), or
                returned an entry that does not record the proposal.
            RekorTimeoutError: Rekor did not answer in time (the entry may exist now).
            RekorConnectionError: Rekor could not be reached.
            SizeLimitExceededError: the answer is larger than :data:`MAX_ENTRY_BYTES`.
        """
        return drive_sync(self.protocol.create_entry(proposed), self._env)

    def get_entry(self, uuid: str) -> LogEntry:
        """Fetch an entry by UUID (64 hex digits) or entry ID (80).

        Args:
            uuid: the entry's UUID or entry ID.

        Returns:
            The entry, with the inclusion proof Rekor computed at the current tree size.

        Raises:
            ValueError: ``uuid`` is malformed (nothing is sent).
            RekorError: no such entry (``status_code`` 404), or Rekor answered another one.
            RekorTimeoutError: Rekor did not answer in time (after retries).
            RekorConnectionError: Rekor could not be reached (after retries).
            SizeLimitExceededError: the answer is larger than :data:`MAX_ENTRY_BYTES`.
        """
        return drive_sync(self.protocol.get_entry(uuid), self._env)

    def get_entry_by_index(self, index: int) -> LogEntry:
        """Fetch the entry at ``index`` (Rekor's global log index).

        Args:
            index: a non-negative log index.

        Returns:
            The entry.

        Raises:
            ValueError: ``index`` is negative or not an integer.
            RekorError: no such entry (``status_code`` 404), or Rekor answered another one.
            RekorTimeoutError: Rekor did not answer in time (after retries).
            RekorConnectionError: Rekor could not be reached (after retries).
            SizeLimitExceededError: the answer is larger than :data:`MAX_ENTRY_BYTES`.
        """
        return drive_sync(self.protocol.get_entry_by_index(index), self._env)

    def search_by_hash(self, digest_hex: str) -> list[str]:
        """List the entries Rekor's search index has for an artifact or payload hash.

        Rekor documents this index as best effort: results may be incomplete.

        Args:
            digest_hex: ``<hex>`` (SHA-256), ``sha256:<hex>`` or ``sha512:<hex>``.

        Returns:
            Entry UUIDs or entry IDs, lower case, without duplicates, in Rekor's order.

        Raises:
            ValueError: ``digest_hex`` is malformed (nothing is sent).
            RekorError: Rekor failed the search or answered malformed UUIDs.
            RekorTimeoutError: Rekor did not answer in time (after retries).
            RekorConnectionError: Rekor could not be reached (after retries).
            SizeLimitExceededError: the answer is larger than :data:`MAX_SEARCH_BYTES`.
        """
        return drive_sync(self.protocol.search_by_hash(digest_hex), self._env)

    def public_key(self) -> bytes:
        """Fetch the log's public key (PEM). Trust it only through a trusted root.

        Returns:
            The PEM bytes, checked to hold a public key.

        Raises:
            RekorError: Rekor failed, or the answer is not a PEM public key.
            RekorTimeoutError: Rekor did not answer in time (after retries).
            RekorConnectionError: Rekor could not be reached (after retries).
            SizeLimitExceededError: the answer is larger than :data:`MAX_PUBLIC_KEY_BYTES`.
        """
        return drive_sync(self.protocol.public_key(), self._env)

    def log_info(self) -> LogInfo:
        """Fetch the log's current tree size, root hash and signed tree head (unverified).

        Returns:
            The :class:`LogInfo`.

        Raises:
            RekorError: Rekor failed or answered a malformed document.
            RekorTimeoutError: Rekor did not answer in time (after retries).
            RekorConnectionError: Rekor could not be reached (after retries).
            SizeLimitExceededError: the answer is larger than :data:`MAX_LOG_INFO_BYTES`.
        """
        return drive_sync(self.protocol.log_info(), self._env)


class AsyncRekorClient(OwnedAsyncHTTPClient):
    """:class:`RekorClient` for asyncio: the same arguments, ``httpx.AsyncClient`` inside.

    Every method raises what its :class:`RekorClient` namesake raises.
    """

    def __init__(
        self,
        url: str = DEFAULT_REKOR_URL,
        *,
        verify: Any = True,
        proxy: Any = None,
        timeout: Any = DEFAULT_TIMEOUT,
        trust_env: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.protocol = RekorProtocol(url, retry=retry)
        self._open_http(
            http_client,
            verify=verify,
            proxy=proxy,
            timeout=timeout,
            trust_env=trust_env,
            transport=transport,
        )
        self._env = HTTPEnv(self.http, _NoAuth())

    @property
    def url(self) -> str:
        """The Rekor base URL."""
        return self.protocol.url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_url(self.url)!r})"

    async def create_entry(self, proposed: Mapping[str, Any]) -> LogEntry:
        """Async :meth:`RekorClient.create_entry`."""
        return await drive_async(self.protocol.create_entry(proposed), self._env)

    async def get_entry(self, uuid: str) -> LogEntry:
        """Async :meth:`RekorClient.get_entry`."""
        return await drive_async(self.protocol.get_entry(uuid), self._env)

    async def get_entry_by_index(self, index: int) -> LogEntry:
        """Async :meth:`RekorClient.get_entry_by_index`."""
        return await drive_async(self.protocol.get_entry_by_index(index), self._env)

    async def search_by_hash(self, digest_hex: str) -> list[str]:
        """Async :meth:`RekorClient.search_by_hash`."""
        return await drive_async(self.protocol.search_by_hash(digest_hex), self._env)

    async def public_key(self) -> bytes:
        """Async :meth:`RekorClient.public_key`."""
        return await drive_async(self.protocol.public_key(), self._env)

    async def log_info(self) -> LogInfo:
        """Async :meth:`RekorClient.log_info`."""
        return await drive_async(self.protocol.log_info(), self._env)
