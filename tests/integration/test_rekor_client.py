"""RekorClient and AsyncRekorClient against the local Rekor (:class:`imagesig.testing.RekorServer`).

Every scenario runs twice, once per client, through :class:`_Driver` (the sync client is
called directly from the test's event loop, which its loop-free driver allows). Each test gets
its own server (its own port, key and tree), so tests are independent under ``pytest -n``.
Entries the clients return are verified offline with
:func:`~imagesig.tlog.verify.verify_log_entry`, as the signing code will do.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import inspect
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from imagesig._http import RetryPolicy
from imagesig.errors import (
    LogEntryMismatchError,
    RekorConnectionError,
    RekorError,
    RekorTimeoutError,
    SizeLimitExceededError,
)
from imagesig.testing import RekorServer
from imagesig.tlog.checkpoint import verify_checkpoint
from imagesig.tlog.client import AsyncRekorClient, RekorClient
from imagesig.tlog.entries import LogEntry, dsse_proposed_entry, hashedrekord_proposed_entry
from imagesig.tlog.trust import load_log_public_key
from imagesig.tlog.verify import ExpectedEntry, verify_log_entry

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)
INTEGRATED_TIME = 1_700_000_000
IN_TOTO = "application/vnd.in-toto+json"


# -- drivers ------------------------------------------------------------------------------------


class _Driver:
    """Calls a sync or an async Rekor client through one awaitable interface."""

    def __init__(self, client: RekorClient | AsyncRekorClient) -> None:
        self.client = client

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, method)(*args, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result


class _CountingTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return super().handle_request(request)


class _AsyncCountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return await super().handle_async_request(request)


@contextlib.asynccontextmanager
async def open_client(kind: str, url: str, **settings: Any) -> AsyncIterator[_Driver]:
    options: dict[str, Any] = {"trust_env": False, "retry": FAST_RETRY, **settings}
    if kind == "sync":
        with RekorClient(url, **options) as client:
            yield _Driver(client)
    else:
        async with AsyncRekorClient(url, **options) as async_client:
            yield _Driver(async_client)


@pytest.fixture
def rekor() -> Iterator[RekorServer]:
    with RekorServer(clock=lambda: INTEGRATED_TIME) as server:
        yield server


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client(kind: str, rekor: RekorServer) -> AsyncIterator[_Driver]:
    async with open_client(kind, rekor.url) as driver:
        yield driver


# -- signed material ----------------------------------------------------------------------------


def _pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _certificate_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imagesig test signer")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(minutes=10))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _hashedrekord(
    payload: bytes,
    key: ec.EllipticCurvePrivateKey | None = None,
    *,
    certificate: bool = False,
) -> tuple[dict[str, Any], ExpectedEntry]:
    """A proposal signing ``payload`` with a P-256 key (or its certificate), and what to expect."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    pem = _certificate_pem(key) if certificate else _pem(key)
    digest = hashlib.sha256(payload).hexdigest()
    proposed = hashedrekord_proposed_entry(
        signature=signature, public_key_pem=pem, digest_hex=digest
    )
    expected = ExpectedEntry.hashedrekord(
        signature=signature, public_key_pem=pem, digest_hex=digest
    )
    return proposed, expected


def _pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _dsse(
    payload: bytes, signers: Sequence[ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey]
) -> tuple[dict[str, Any], list[ExpectedEntry]]:
    """A DSSE proposal with one signature per signer, and one expectation per signature."""
    message = _pae(IN_TOTO, payload)
    signatures: list[tuple[bytes, bytes]] = []
    for signer in signers:
        if isinstance(signer, ec.EllipticCurvePrivateKey):
            signatures.append((signer.sign(message, ec.ECDSA(hashes.SHA256())), _pem(signer)))
        else:
            signatures.append((signer.sign(message), _pem(signer)))
    envelope = json.dumps(
        {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": IN_TOTO,
            "signatures": [
                {"keyid": "", "sig": base64.b64encode(sig).decode()} for sig, _ in signatures
            ],
        }
    ).encode()
    proposed = dsse_proposed_entry(envelope=envelope, verifiers=[pem for _, pem in signatures])
    expected = [
        ExpectedEntry.dsse(signature=sig, public_key_pem=pem, payload=payload, envelope=envelope)
        for sig, pem in signatures
    ]
    return proposed, expected


def _statement(name: str) -> bytes:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": name, "digest": {"sha256": digest}}],
            "predicateType": "https://example.com/test/v1",
            "predicate": {},
        }
    ).encode()


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _methods(rekor: RekorServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in rekor.requests]


# -- creating entries ---------------------------------------------------------------------------


async def test_hashedrekord_entry_created_through_the_log_verifies_offline(
    client: _Driver, rekor: RekorServer
) -> None:
    proposed, expected = _hashedrekord(b"image signature payload")

    entry: LogEntry = await client.call("create_entry", proposed)

    verified = verify_log_entry(entry, rekor.trusted_root(), expected, require_inclusion_proof=True)
    assert (verified.log_index, verified.integrated_time) == (0, INTEGRATED_TIME)
    assert verified.set_verified
    assert verified.inclusion_verified
    assert verified.log_id == rekor.log_id
    assert entry.uuid == rekor.entry_id(0)
    assert len(entry.uuid) == 80  # Rekor keys entries by tree ID + UUID


async def test_hashedrekord_entry_with_a_certificate_verifies_offline(
    client: _Driver, rekor: RekorServer
) -> None:
    proposed, expected = _hashedrekord(b"keyless payload", certificate=True)

    entry = await client.call("create_entry", proposed)

    assert verify_log_entry(entry, rekor.trusted_root(), expected).kind == "hashedrekord"


async def test_hashedrekord_with_an_ed25519_key_is_refused_as_rekor_would(
    client: _Driver, rekor: RekorServer
) -> None:
    # Rekor checks hashedrekord Ed25519 signatures as Ed25519ph over the digest; a plain
    # Ed25519 signature does not verify that way, so Rekor answers 400 (and so does the fake).
    key = ed25519.Ed25519PrivateKey.generate()
    digest = hashlib.sha256(b"payload").digest()
    proposed = hashedrekord_proposed_entry(
        signature=key.sign(digest), public_key_pem=_pem(key), digest_hex=digest.hex()
    )

    with pytest.raises(RekorError) as caught:
        await client.call("create_entry", proposed)

    assert caught.value.status_code == 400
    assert rekor.size == 0


async def test_dsse_entry_with_p256_and_ed25519_signatures_verifies_offline(
    client: _Driver, rekor: RekorServer
) -> None:
    signers = [ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()]
    proposed, expected = _dsse(_statement("app"), signers)

    entry = await client.call("create_entry", proposed)

    root = rekor.trusted_root()
    for each in expected:
        verified = verify_log_entry(entry, root, each, require_inclusion_proof=True)
        assert verified.kind == "dsse"


async def test_signature_that_does_not_verify_is_refused_with_400(
    client: _Driver, rekor: RekorServer
) -> None:
    proposed, _ = _hashedrekord(b"signed payload")
    proposed["spec"]["data"]["hash"]["value"] = hashlib.sha256(b"other payload").hexdigest()

    with pytest.raises(RekorError) as caught:
        await client.call("create_entry", proposed)

    assert caught.value.status_code == 400
    assert "verifying signature" in str(caught.value)
    assert rekor.size == 0


async def test_malformed_proposal_is_refused_before_sending(
    client: _Driver, rekor: RekorServer
) -> None:
    with pytest.raises(ValueError, match="hashedrekord"):
        await client.call(
            "create_entry", {"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": {}}
        )

    assert rekor.requests == []


async def test_duplicate_entry_returns_the_existing_one_through_409(
    client: _Driver, rekor: RekorServer
) -> None:
    proposed, expected = _hashedrekord(b"signed twice")
    first = await client.call("create_entry", proposed)

    again = await client.call("create_entry", proposed)

    assert (again.uuid, again.log_index, again.body) == (first.uuid, first.log_index, first.body)
    assert rekor.size == 1
    entry_path = f"/api/v1/log/entries/{first.uuid}"
    assert _methods(rekor) == [
        "POST /api/v1/log/entries",
        "POST /api/v1/log/entries",
        f"GET {entry_path}",
    ]
    verify_log_entry(again, rekor.trusted_root(), expected, require_inclusion_proof=True)


async def test_409_pointing_to_another_origin_is_refused(
    client: _Driver, rekor: RekorServer
) -> None:
    proposed, _ = _hashedrekord(b"conflicting")
    entry_id = "ab" * 40
    rekor.respond_next(
        409,
        {"code": 409, "message": "an equivalent entry already exists"},
        headers={"Location": f"http://evil.example/api/v1/log/entries/{entry_id}"},
    )

    with pytest.raises(RekorError, match="Location outside"):
        await client.call("create_entry", proposed)

    assert _methods(rekor) == ["POST /api/v1/log/entries"]


# -- reading entries ----------------------------------------------------------------------------


async def test_get_by_uuid_entry_id_and_index_round_trip(
    client: _Driver, rekor: RekorServer
) -> None:
    first_proposal, first_expected = _hashedrekord(b"first")
    second_proposal, _ = _hashedrekord(b"second")
    first = await client.call("create_entry", first_proposal)
    await client.call("create_entry", second_proposal)
    assert first.uuid is not None

    by_uuid = await client.call("get_entry", first.uuid[-64:])
    by_entry_id = await client.call("get_entry", first.uuid.upper())
    by_index = await client.call("get_entry_by_index", 0)

    root = rekor.trusted_root()
    for fetched in (by_uuid, by_entry_id, by_index):
        assert (fetched.uuid, fetched.body, fetched.log_index) == (
            first.uuid,
            first.body,
            0,
        )
        # The proof is now against the tree of two entries, and still verifies.
        assert fetched.inclusion_proof.tree_size == 2
        verify_log_entry(fetched, root, first_expected, require_inclusion_proof=True)


async def test_missing_entries_are_rekor_errors_with_status_404(client: _Driver) -> None:
    with pytest.raises(RekorError) as by_uuid:
        await client.call("get_entry", "0" * 64)
    with pytest.raises(RekorError) as by_index:
        await client.call("get_entry_by_index", 7)

    assert by_uuid.value.status_code == by_index.value.status_code == 404


@pytest.mark.parametrize(
    ("method", "argument"),
    [
        ("get_entry", "../../../etc/passwd"),
        ("get_entry", "a" * 63),
        ("get_entry", "g" * 64),
        ("get_entry_by_index", -1),
        ("get_entry_by_index", True),
        ("search_by_hash", "md5:" + "0" * 32),
        ("search_by_hash", "sha256:" + "0" * 63),
    ],
)
async def test_malformed_identifiers_are_refused_before_any_request(
    client: _Driver, rekor: RekorServer, method: str, argument: Any
) -> None:
    with pytest.raises(ValueError):
        await client.call(method, argument)

    assert rekor.requests == []


async def test_search_by_hash_finds_hashedrekord_and_dsse_entries(
    client: _Driver, rekor: RekorServer
) -> None:
    payload = b"searchable payload"
    proposed, _ = _hashedrekord(payload)
    entry = await client.call("create_entry", proposed)
    statement = _statement("searchable-image")
    attestation = await client.call(
        "create_entry", _dsse(statement, [ec.generate_private_key(ec.SECP256R1())])[0]
    )
    digest = hashlib.sha256(payload).hexdigest()
    subject = hashlib.sha256(b"searchable-image").hexdigest()

    assert await client.call("search_by_hash", digest) == [entry.uuid]
    assert await client.call("search_by_hash", f"sha256:{digest.upper()}") == [entry.uuid]
    assert await client.call("search_by_hash", subject) == [attestation.uuid]
    assert await client.call("search_by_hash", hashlib.sha256(b"absent").hexdigest()) == []


async def test_log_info_carries_a_signed_tree_head_and_the_public_key(
    client: _Driver, rekor: RekorServer
) -> None:
    await client.call("create_entry", _hashedrekord(b"one")[0])
    await client.call("create_entry", _hashedrekord(b"two")[0])

    info = await client.call("log_info")
    pem = await client.call("public_key")

    assert pem == rekor.public_key_pem
    assert (info.tree_size, info.tree_id) == (2, str(rekor.tree_id))
    checkpoint = verify_checkpoint(
        info.signed_tree_head, load_log_public_key(pem), log_id=rekor.log_id
    )
    assert (checkpoint.tree_size, checkpoint.root_hash) == (2, info.root_hash)
    assert checkpoint.origin == rekor.origin


# -- answers that are not what was asked --------------------------------------------------------


async def test_entry_for_another_artifact_is_detected(client: _Driver, rekor: RekorServer) -> None:
    wanted_proposal, wanted_expected = _hashedrekord(b"the artifact asked for")
    other_proposal, _ = _hashedrekord(b"another artifact")
    wanted = await client.call("create_entry", wanted_proposal)
    other = await client.call("create_entry", other_proposal)

    # GET by UUID answered with another entry (a genuine, well-signed one).
    rekor.respond_next(200, rekor.entry_response(1))
    with pytest.raises(RekorError) as by_uuid:
        await client.call("get_entry", wanted.uuid)
    assert by_uuid.value.context["check"] == "uuid"

    # GET by index answered with the entry at another index.
    rekor.respond_next(200, rekor.entry_response(1))
    with pytest.raises(RekorError, match="index 1 when asked for 0"):
        await client.call("get_entry_by_index", 0)

    # A create answered with an existing entry for another artifact.
    rekor.respond_next(201, rekor.entry_response(1))
    with pytest.raises(RekorError) as by_create:
        await client.call("create_entry", _hashedrekord(b"a third artifact")[0])
    assert by_create.value.context["check"] == "body"

    # An entry whose key claims the asked-for UUID but whose body is the other entry's.
    document = rekor.entry_response(1)
    rekor.respond_next(200, {wanted.uuid: document[other.uuid]})
    with pytest.raises(RekorError, match="not the leaf hash"):
        await client.call("get_entry", wanted.uuid)

    # And should such an entry reach verification, it is refused there too.
    with pytest.raises(LogEntryMismatchError):
        verify_log_entry(other, rekor.trusted_root(), wanted_expected)


async def test_redirect_to_another_origin_is_refused(client: _Driver, rekor: RekorServer) -> None:
    with RekorServer() as elsewhere:
        with RekorClient(elsewhere.url, trust_env=False) as direct:
            planted = direct.create_entry(_hashedrekord(b"planted elsewhere")[0])
        rekor.respond_next(
            302, headers={"Location": f"{elsewhere.url}/api/v1/log/entries/{planted.uuid}"}
        )

        with pytest.raises(RekorError, match="another origin"):
            await client.call("get_entry", planted.uuid)


async def test_malformed_entry_document_is_a_rekor_error(
    client: _Driver, rekor: RekorServer
) -> None:
    rekor.respond_next(200, {"not": "an entry"})
    with pytest.raises(RekorError, match="not a UUID"):
        await client.call("get_entry_by_index", 0)

    rekor.respond_next(200, b"<html>proxy error</html>")
    with pytest.raises(RekorError, match="valid JSON"):
        await client.call("get_entry_by_index", 0)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://rekor.example",
        "rekor.example",
        "https://user:secret@rekor.example",
        "https://r.example/?q=1",
    ],
)
def test_rekor_url_must_be_plain_http_or_https(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        RekorClient(url)

    assert "secret" not in str(caught.value)


# -- transport failures -------------------------------------------------------------------------


async def test_unreachable_rekor_raises_connection_error_after_bounded_retries(kind: str) -> None:
    transport = _CountingTransport() if kind == "sync" else _AsyncCountingTransport()
    url = _closed_port_url()

    async with open_client(kind, url, transport=transport) as driver:
        with pytest.raises(RekorConnectionError) as reading:
            await driver.call("get_entry_by_index", 0)
        reads = transport.count
        # A create that never left may be sent again: the connection was refused each time.
        with pytest.raises(RekorConnectionError):
            await driver.call("create_entry", _hashedrekord(b"unsent")[0])

    assert reads == FAST_RETRY.attempts
    assert transport.count - reads == FAST_RETRY.attempts
    assert url in reading.value.message


async def test_server_errors_then_success_are_retried(client: _Driver, rekor: RekorServer) -> None:
    proposed, _ = _hashedrekord(b"retried")
    rekor.fail_next(503, retry_after=0)
    entry = await client.call("create_entry", proposed)
    # 503 says the request was not processed: even a create may be sent again.
    assert _methods(rekor) == ["POST /api/v1/log/entries"] * 2
    rekor.clear_requests()

    rekor.fail_next(502, count=2)
    fetched = await client.call("get_entry_by_index", 0)

    assert fetched.uuid == entry.uuid
    assert _methods(rekor) == ["GET /api/v1/log/entries"] * 3


async def test_create_is_not_resent_after_a_500(client: _Driver, rekor: RekorServer) -> None:
    rekor.fail_next(500, message="trillian unavailable")

    with pytest.raises(RekorError, match="trillian unavailable") as caught:
        await client.call("create_entry", _hashedrekord(b"maybe logged")[0])

    assert caught.value.status_code == 500
    assert caught.value.hint is not None
    assert "submit it again" in caught.value.hint
    assert _methods(rekor) == ["POST /api/v1/log/entries"]


async def test_slow_rekor_raises_timeout_error_after_retries(kind: str, rekor: RekorServer) -> None:
    rekor.delay = 0.4
    retry = RetryPolicy(attempts=2, backoff=0.01)

    async with open_client(kind, rekor.url, timeout=0.1, retry=retry) as driver:
        with pytest.raises(RekorTimeoutError):
            await driver.call("log_info")

    assert _methods(rekor) == ["GET /api/v1/log"] * 2


async def test_create_is_never_resent_after_a_timeout(kind: str, rekor: RekorServer) -> None:
    # Creating an entry is not idempotent: once the request went out, a timeout may hide a
    # success. The client reports the timeout; submitting again then finds the entry (409).
    proposed, expected = _hashedrekord(b"slow to log")
    rekor.delay = 0.3

    async with open_client(kind, rekor.url, timeout=0.1) as driver:
        with pytest.raises(RekorTimeoutError) as caught:
            await driver.call("create_entry", proposed)
        assert _methods(rekor) == ["POST /api/v1/log/entries"]
        assert "submit it again" in (caught.value.hint or "")

        deadline = time.monotonic() + 5
        while rekor.size == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        rekor.delay = 0
        entry = await driver.call("create_entry", proposed)

    assert rekor.size == 1
    verify_log_entry(entry, rekor.trusted_root(), expected, require_inclusion_proof=True)


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "streamed"])
async def test_ten_megabyte_answer_is_refused(
    client: _Driver, rekor: RekorServer, declare_length: bool
) -> None:
    rekor.oversize_next(10 * 1024 * 1024, declare_length=declare_length)

    with pytest.raises(SizeLimitExceededError):
        await client.call("get_entry_by_index", 0)


async def test_oversized_public_key_is_refused(client: _Driver, rekor: RekorServer) -> None:
    rekor.oversize_next(64 * 1024 + 1)

    with pytest.raises(SizeLimitExceededError):
        await client.call("public_key")
