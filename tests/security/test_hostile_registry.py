"""A registry that attacks the client: catalogue items 1-12 of the bad-input suite.

Each test names the catalogue item it pins (``item1`` ... ``item12``, section 9 of the
advisories notes) and ends in the typed error the item asks for; where the item is about
resources it also checks what the server saw (requests made or not made, headers sent or not
sent, the client hanging up) and, for the large bodies, the peak of Python allocations while
the call ran (``tracemalloc``, which counts the server thread too).

Every scenario runs through the sync :class:`~imagesig.oci.registry.RegistryStore`; those
marked with ``MODES`` also run through :class:`~imagesig.oci.registry.AsyncRegistryStore`.
"""

from __future__ import annotations

import base64
import gc
import io
import json
import secrets
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.support.hostile_registry import (
    HostileRegistry,
    RecordedRequest,
    Response,
    TokenEndpoint,
    basic_authorization,
    bearer_challenge,
    endless,
    error_response,
    json_response,
    repeated,
    require_authorization,
)

from imagesig._http import ERROR_BODY_BYTES, HTTPEnv, RetryPolicy
from imagesig.errors import (
    DigestMismatchError,
    ImageSigError,
    InvalidDigestError,
    InvalidReferenceError,
    ManifestNotFoundError,
    RegistryAuthError,
    RegistryConnectionError,
    RegistryError,
    RegistryProtocolError,
    RegistryTimeoutError,
    SizeLimitExceededError,
    UnsafeAuthRealmError,
)
from imagesig.oci.auth import MAX_TOKEN_RESPONSE_BYTES, RegistryAuth
from imagesig.oci.credentials import CallableKeychain, RegistryCredential, StaticKeychain
from imagesig.oci.model import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Descriptor, Index, Manifest
from imagesig.oci.registry import MAX_PAGES
from imagesig.oci.store import DEFAULT_MAX_MANIFEST_BYTES
from imagesig.reference import Digest, ImageReference, Repository

MODES = pytest.mark.parametrize("mode", ["sync", "async"])

PATH = "team/app"
MANIFESTS = rf"/v2/{PATH}/manifests/.+"
BLOBS = rf"/v2/{PATH}/blobs/sha(256|384|512):[0-9a-f]+"
UPLOADS = rf"/v2/{PATH}/blobs/uploads/"
REFERRERS = rf"/v2/{PATH}/referrers/.+"
TAGS = rf"/v2/{PATH}/tags/list"

USERNAME = "alice"
PASSWORD = "pw-" + secrets.token_hex(12)
IDENTITY_TOKEN = "refresh-" + secrets.token_hex(12)
STATIC_REGISTRY_TOKEN = "static-" + secrets.token_hex(12)
SECRETS = (PASSWORD, IDENTITY_TOKEN, STATIC_REGISTRY_TOKEN)
BASIC = basic_authorization(USERNAME, PASSWORD)
PASSWORD_CREDENTIAL = RegistryCredential(username=USERNAME, password=PASSWORD)

COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
MIB = 1024 * 1024


# -- helpers --------------------------------------------------------------------------------


def repository(server: HostileRegistry | str) -> Repository:
    host = server if isinstance(server, str) else server.host
    return Repository(host, PATH)


def tagged(server: HostileRegistry | str, tag: str = "1.0") -> ImageReference:
    return repository(server).with_tag(tag)


def build_manifest(*layers: Descriptor, annotations: dict[str, str] | None = None) -> Manifest:
    return Manifest.build(Descriptor.for_content(b"{}", OCI_EMPTY), layers, annotations=annotations)


def serve_manifest(manifest: Manifest | Index, *, digest_header: str | None = None) -> Response:
    return Response(
        200,
        {
            "Content-Type": manifest.media_type,
            "Docker-Content-Digest": digest_header or str(manifest.digest),
        },
        manifest.raw,
    )


def index_page(*entries: Descriptor, link: str | None = None) -> Response:
    headers = {"Content-Type": OCI_INDEX}
    if link is not None:
        headers["Link"] = f'<{link}>; rel="next"'
    return Response(200, headers, Index.build(entries).raw)


def peak_while_raising(
    error: type[Exception], call: Callable[[], object]
) -> tuple[pytest.ExceptionInfo[Any], int]:
    """Run ``call``, expect ``error``; return it and the peak of traced Python allocations."""
    gc.collect()
    tracemalloc.start()
    try:
        with pytest.raises(error) as info:
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return info, peak


def assert_no_secret(exc: BaseException, *extra: str) -> None:
    """Neither the error, its diagnostics, context nor causes mention a secret."""
    texts = [str(exc), repr(exc)]
    if isinstance(exc, ImageSigError):
        texts.append(exc.diagnostics())
        texts.extend(f"{key}={value!r}" for key, value in exc.context.items())
    cause = exc.__cause__ or exc.__context__
    for _ in range(10):
        if cause is None:
            break
        texts.extend([str(cause), repr(cause)])
        cause = cause.__cause__ or cause.__context__
    for secret in (*SECRETS, *extra):
        for text in texts:
            assert secret not in text, f"secret leaked into {text!r}"


def assert_clean(requests: list[RecordedRequest], *tokens: str) -> None:
    """No request carries ``Authorization`` or any secret anywhere."""
    for request in requests:
        assert request.authorization is None, f"{request.server} got {request.method} with auth"
        blob = " ".join(
            [request.target, request.body.decode("latin-1")]
            + [value for _, value in request.headers]
        )
        for secret in (*SECRETS, BASIC.split()[1], *tokens):
            assert secret not in blob, f"{request.server} received a secret"


@pytest.fixture
def bearer_registry(registry: HostileRegistry) -> TokenEndpoint:
    """``registry`` with its own token endpoint at ``/token`` (Basic or refresh token)."""
    endpoint = TokenEndpoint(basic=(USERNAME, PASSWORD), refresh_token=IDENTITY_TOKEN)
    registry.route(["GET", "POST"], "/token", endpoint)
    return endpoint


def registry_challenge(registry: HostileRegistry) -> str:
    return bearer_challenge(f"{registry.url}/token", scope=f"repository:{PATH}:pull")


# -- item 1: manifest larger than the cap ---------------------------------------------------


@MODES
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_item1_manifest_of_200_mb_stops_at_the_manifest_cap(
    mode: str, framing: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    total = 200 * MIB
    registry.route(
        "GET",
        MANIFESTS,
        Response(
            200,
            {"Content-Type": OCI_MANIFEST},
            repeated(total),
            content_length=total if framing == "content-length" else None,
        ),
    )
    store = open_store(mode)

    info, peak = peak_while_raising(
        SizeLimitExceededError, lambda: store.get_manifest(tagged(registry))
    )

    assert info.value.context["limit"] == DEFAULT_MAX_MANIFEST_BYTES
    assert peak < 2 * DEFAULT_MAX_MANIFEST_BYTES
    [request] = registry.requests("GET")
    request.wait()
    assert request.client_disconnected
    assert not request.cut_by_server
    assert request.bytes_sent < total // 4


@MODES
def test_item1_endless_chunked_manifest_stops_at_the_cap(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    registry.route("GET", MANIFESTS, Response(200, {"Content-Type": OCI_MANIFEST}, endless()))
    store = open_store(mode)

    _, peak = peak_while_raising(
        SizeLimitExceededError, lambda: store.get_manifest(tagged(registry))
    )

    assert peak < 2 * DEFAULT_MAX_MANIFEST_BYTES
    [request] = registry.requests("GET")
    request.wait()
    assert request.client_disconnected
    assert not request.cut_by_server
    assert request.bytes_sent < DEFAULT_MAX_MANIFEST_BYTES + 64 * MIB


def test_item1_endless_manifest_without_any_length_framing_stops_at_the_cap(
    registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    """A body delimited only by the connection closing: no Content-Length to trust at all."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {OCI_MANIFEST}\r\nConnection: close\r\n\r\n"

    def raw() -> Iterator[bytes]:
        yield head.encode()
        yield from endless()()

    registry.route("GET", MANIFESTS, Response(raw=raw))

    _, peak = peak_while_raising(
        SizeLimitExceededError, lambda: open_store().get_manifest(tagged(registry))
    )

    assert peak < 2 * DEFAULT_MAX_MANIFEST_BYTES
    [request] = registry.requests("GET")
    assert request.wait().client_disconnected


@MODES
def test_item1_resolve_falling_back_to_get_is_capped_too(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    # HEAD says too little (no digest), so resolve() reads the manifest: still capped.
    registry.route("HEAD", MANIFESTS, Response(200, {"Content-Type": OCI_MANIFEST}))
    registry.route("GET", MANIFESTS, Response(200, {"Content-Type": OCI_MANIFEST}, endless()))

    with pytest.raises(SizeLimitExceededError):
        open_store(mode).resolve(tagged(registry))

    assert registry.requests("GET")[0].wait().client_disconnected


def test_item1_callers_smaller_manifest_cap_is_honoured(
    registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    registry.route("GET", MANIFESTS, Response(200, {"Content-Type": OCI_MANIFEST}, endless()))

    info, peak = peak_while_raising(
        SizeLimitExceededError,
        lambda: open_store().get_manifest(tagged(registry), max_bytes=64 * 1024),
    )

    assert info.value.context["limit"] == 64 * 1024
    assert peak < 2 * MIB


# -- item 2: blob sizes ---------------------------------------------------------------------


@MODES
def test_item2_layer_claiming_2_pow_40_bytes_is_refused_before_any_blob_request(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    payload = b'{"critical":{}}'
    layer = Descriptor(COSIGN_SIMPLESIGNING, Digest.from_bytes(payload), 2**40)
    signature = build_manifest(layer)
    registry.route("GET", MANIFESTS, serve_manifest(signature))
    registry.route("GET", BLOBS, Response(200, body=endless()))
    store = open_store(mode)

    fetched = store.get_manifest(tagged(registry, "sha256-abc.sig"))
    [described] = fetched.layers
    assert described.size == 2**40
    with pytest.raises(SizeLimitExceededError):
        store.get_blob(repository(registry), described.digest, size=described.size)

    assert registry.requests(path=BLOBS) == []


@MODES
@pytest.mark.parametrize("framing", ["chunked", "content-length", "connection-close"])
def test_item2_blob_longer_than_its_declared_size_is_cut_off(
    mode: str, framing: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    payload = b"a signature payload of known size"
    digest = Digest.from_bytes(payload)

    def longer() -> Iterator[bytes]:
        yield payload
        yield from endless()()

    if framing == "chunked":
        behaviour = Response(200, body=longer)
    elif framing == "content-length":
        behaviour = Response(200, body=longer, content_length=100 * MIB)
    else:

        def close_delimited() -> Iterator[bytes]:
            yield b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
            yield from longer()

        behaviour = Response(raw=close_delimited)
    registry.route("GET", BLOBS, behaviour)

    with pytest.raises(SizeLimitExceededError):
        open_store(mode).get_blob(repository(registry), digest, size=len(payload))

    [request] = registry.requests("GET")
    request.wait()
    assert request.client_disconnected
    assert not request.cut_by_server


@MODES
def test_item2_streamed_copy_stops_at_the_declared_size(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    payload = b"layer bytes"
    registry.route("GET", BLOBS, Response(200, body=endless()))
    sink = io.BytesIO()

    with pytest.raises(SizeLimitExceededError):
        open_store(mode).copy_blob_to(
            repository(registry), Digest.from_bytes(payload), sink, size=len(payload)
        )

    assert len(sink.getvalue()) <= len(payload)


def test_item2_blob_without_declared_size_stops_at_max_bytes(
    registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    registry.route("GET", BLOBS, Response(200, body=endless()))

    info, peak = peak_while_raising(
        SizeLimitExceededError,
        lambda: open_store().get_blob(
            repository(registry), Digest.from_bytes(b"x"), max_bytes=4 * MIB
        ),
    )

    assert info.value.context["limit"] == 4 * MIB
    assert peak < 8 * MIB


def test_item2_bytes_after_the_declared_content_length_never_reach_the_caller(
    registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    payload = b"exactly these bytes"
    registry.route(
        "GET",
        BLOBS,
        Response(200, body=payload + b"<appended by the registry>", content_length=len(payload)),
    )

    data = open_store().get_blob(
        repository(registry), Digest.from_bytes(payload), size=len(payload)
    )

    assert data == payload


def test_blob_exists_accepts_blobs_larger_than_the_manifest_cap(
    registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    # HEAD's Content-Length is the blob's size, not a body: it must not trip a read cap.
    registry.route("HEAD", BLOBS, Response(200, body=b"", content_length=512 * MIB))

    assert open_store().blob_exists(repository(registry), Digest.from_bytes(b"big")) is True


# -- item 4: endless pagination -------------------------------------------------------------


@MODES
def test_item4_referrers_link_next_to_itself_is_a_protocol_error(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    subject = Digest.from_bytes(b"subject")
    path = f"/v2/{PATH}/referrers/{subject}"
    registry.route("GET", REFERRERS, index_page(link=path))

    with pytest.raises(RegistryProtocolError, match="loops"):
        open_store(mode).referrers(repository(registry), subject)

    assert len(registry.requests(path=REFERRERS)) <= 2


@MODES
def test_item4_referrers_endless_distinct_pages_stop_after_max_pages(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    subject = Digest.from_bytes(b"subject")
    path = f"/v2/{PATH}/referrers/{subject}"

    def next_page(request: RecordedRequest) -> Response:
        page = int(request.query.get("page", ["0"])[0])
        return index_page(link=f"{path}?page={page + 1}")

    registry.route("GET", REFERRERS, next_page)

    with pytest.raises(RegistryProtocolError, match=str(MAX_PAGES)):
        open_store(mode).referrers(repository(registry), subject)

    assert len(registry.requests(path=REFERRERS)) == MAX_PAGES


def test_item4_referrers_two_page_cycle_is_detected(
    registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    subject = Digest.from_bytes(b"subject")
    path = f"/v2/{PATH}/referrers/{subject}"
    registry.route(
        "GET",
        REFERRERS,
        lambda request: index_page(link=path if request.query else f"{path}?page=2"),
    )

    with pytest.raises(RegistryProtocolError):
        open_store().referrers(repository(registry), subject)

    assert len(registry.requests(path=REFERRERS)) == 2


@MODES
@pytest.mark.parametrize("shape", ["self", "endless"])
def test_item4_tag_list_pagination_is_bounded(
    mode: str, shape: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    path = f"/v2/{PATH}/tags/list"

    def page(request: RecordedRequest) -> Response:
        number = int(request.query.get("n", ["0"])[0])
        link = path if shape == "self" else f"{path}?n={number + 1}"
        return json_response(
            200, {"name": PATH, "tags": [f"t{number}"]}, {"Link": f'<{link}>; rel="next"'}
        )

    registry.route("GET", TAGS, page)

    with pytest.raises(RegistryProtocolError):
        open_store(mode).list_tags(repository(registry))

    assert len(registry.requests(path=TAGS)) == (MAX_PAGES if shape == "endless" else 1)


def test_item4_pagination_link_to_another_host_is_refused(
    registry: HostileRegistry, evil: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    subject = Digest.from_bytes(b"subject")
    registry.route("GET", REFERRERS, index_page(link=f"{evil.url}/v2/{PATH}/referrers/{subject}"))

    with pytest.raises(RegistryProtocolError, match="another host"):
        open_store().referrers(repository(registry), subject)

    assert evil.requests() == []


@pytest.mark.parametrize("manifests", [5, "abc", {"a": 1}])
def test_item4_later_referrers_page_that_is_not_a_list_is_a_protocol_error(
    manifests: object, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    subject = Digest.from_bytes(b"subject")
    path = f"/v2/{PATH}/referrers/{subject}"
    registry.route(
        "GET",
        REFERRERS,
        lambda request: (
            json_response(200, {"manifests": manifests})
            if request.query
            else index_page(link=f"{path}?page=2")
        ),
    )

    with pytest.raises(RegistryProtocolError):
        open_store().referrers(repository(registry), subject)


# -- item 5: content that does not hash to its digest ---------------------------------------


@MODES
@pytest.mark.parametrize("declared_size", [True, False])
def test_item5_blob_not_hashing_to_its_digest_is_rejected(
    mode: str, declared_size: bool, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    genuine = b"genuine blob content"
    forged = b"forged! blob content"
    digest = Digest.from_bytes(genuine)
    # The registry even echoes the expected digest: only the bytes count.
    registry.route("GET", BLOBS, Response(200, {"Docker-Content-Digest": str(digest)}, forged))

    with pytest.raises(DigestMismatchError):
        open_store(mode).get_blob(
            repository(registry), digest, size=len(genuine) if declared_size else None
        )


@MODES
def test_item5_copy_blob_to_detects_a_mismatch_at_the_end(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    genuine = b"genuine blob content"
    registry.route("GET", BLOBS, Response(200, body=b"forged! blob content"))

    with pytest.raises(DigestMismatchError):
        open_store(mode).copy_blob_to(
            repository(registry), Digest.from_bytes(genuine), io.BytesIO(), size=len(genuine)
        )


@MODES
def test_item5_signature_layer_blob_is_digest_checked(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    payload = json.dumps({"critical": {"image": {"docker-manifest-digest": "sha256:" + "1" * 64}}})
    layer = Descriptor.for_content(
        payload.encode(),
        COSIGN_SIMPLESIGNING,
        annotations={COSIGN_SIGNATURE_ANNOTATION: base64.b64encode(b"sig").decode()},
    )
    signature = build_manifest(layer)
    tampered = payload.replace("1" * 64, "2" * 64).encode()
    assert len(tampered) == layer.size
    registry.route("GET", MANIFESTS, serve_manifest(signature))
    registry.route("GET", BLOBS, Response(200, body=tampered))
    store = open_store(mode)

    fetched = store.get_manifest(tagged(registry, f"sha256-{'1' * 64}.sig"))
    for described in fetched.layers:
        with pytest.raises(DigestMismatchError):
            store.get_blob(repository(registry), described.digest, size=described.size)


@MODES
@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_item5_manifest_not_hashing_to_the_requested_digest_is_rejected(
    mode: str, algorithm: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    wanted = build_manifest(annotations={"v": "wanted"})
    served = build_manifest(annotations={"v": "served"})
    wanted_digest = Digest.from_bytes(wanted.raw, algorithm)
    registry.route("GET", MANIFESTS, serve_manifest(served, digest_header=str(wanted_digest)))

    with pytest.raises(DigestMismatchError):
        open_store(mode).get_manifest(repository(registry).with_digest(wanted_digest))


# -- item 6: HEAD says one digest, GET serves another ---------------------------------------


@MODES
def test_item6_head_claim_is_never_served_under_bytes_that_do_not_hash_to_it(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    signed = build_manifest(annotations={"image": "signed"})
    unsigned = build_manifest(annotations={"image": "unsigned"})
    registry.route("HEAD", MANIFESTS, serve_manifest(unsigned, digest_header=str(signed.digest)))
    registry.route("GET", MANIFESTS, serve_manifest(unsigned, digest_header=str(signed.digest)))
    store = open_store(mode)
    reference = tagged(registry)

    claim = store.resolve(reference)
    assert claim.digest == signed.digest  # resolve reports the HEAD claim...
    with pytest.raises(DigestMismatchError):  # ...which the bytes then fail to match
        store.get_manifest(reference.with_digest(claim.digest))

    fetched = store.get_manifest(reference)
    assert fetched.digest == unsigned.digest == Digest.from_bytes(fetched.raw)
    assert fetched.digest != claim.digest


@MODES
def test_item6_resolve_by_digest_rejects_a_different_head_digest(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    wanted = build_manifest(annotations={"v": "1"})
    other = build_manifest(annotations={"v": "2"})
    registry.route("HEAD", MANIFESTS, serve_manifest(other))

    with pytest.raises(DigestMismatchError):
        open_store(mode).resolve(repository(registry).with_digest(wanted.digest))


def test_item6_resolve_fallback_to_get_reports_the_computed_digest(
    registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    served = build_manifest(annotations={"v": "served"})
    claimed = build_manifest(annotations={"v": "claimed"})
    # HEAD without a digest forces a GET, whose header lies: only the bytes count.
    registry.route("HEAD", MANIFESTS, Response(200, {"Content-Type": OCI_MANIFEST}))
    registry.route("GET", MANIFESTS, serve_manifest(served, digest_header=str(claimed.digest)))

    descriptor = open_store().resolve(tagged(registry))

    assert descriptor.digest == served.digest
    assert descriptor.size == len(served.raw)


# -- item 8: malformed digests --------------------------------------------------------------

BAD_DIGESTS = {
    "traversal": "sha256:../../../../tmp/x",
    "traversal-exact-length": "sha256:" + ("../" * 22)[:64],
    "uppercase": "sha256:" + "AB" * 32,
    "upper-algorithm": "SHA256:" + "ab" * 32,
    "short": "sha256:" + "a" * 63,
    "long": "sha256:" + "a" * 65,
    "unknown-algorithm": "md5:" + "a" * 32,
    "no-algorithm": ":" + "a" * 64,
    "empty-hex": "sha256:",
    "query": "sha256:" + "a" * 60 + "?x=1",
    "one-megabyte": "sha256:" + "a" * MIB,
}


@pytest.mark.parametrize("bad", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
def test_item8_malformed_digest_in_a_reference_is_refused_at_parse_time(
    bad: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    open_store()
    started = time.monotonic()

    with pytest.raises(InvalidReferenceError):
        ImageReference.parse(f"{registry.host}/{PATH}@{bad}")
    with pytest.raises(InvalidDigestError):
        Digest.parse(bad)
    with pytest.raises(InvalidDigestError):
        repository(registry).with_digest(bad)
    with pytest.raises(InvalidDigestError):
        tagged(registry).with_digest(bad)

    assert time.monotonic() - started < 1.0
    assert registry.requests() == []


@MODES
@pytest.mark.parametrize("bad", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
def test_item8_malformed_digest_in_a_manifest_descriptor_is_refused_and_never_fetched(
    mode: str, bad: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_EMPTY, "digest": str(Digest.from_bytes(b"{}")), "size": 2},
        "layers": [{"mediaType": COSIGN_SIMPLESIGNING, "digest": bad, "size": 10}],
    }
    registry.route(
        "GET", MANIFESTS, Response(200, {"Content-Type": OCI_MANIFEST}, json.dumps(body).encode())
    )

    with pytest.raises(InvalidDigestError):
        open_store(mode).get_manifest(tagged(registry))

    [request] = registry.requests()
    assert request.path == f"/v2/{PATH}/manifests/1.0"


@MODES
@pytest.mark.parametrize(
    "bad",
    ["sha256:../x", "sha256:" + "A" * 64, "sha256:abc", "md5:" + "a" * 32, "sha256:" + "a" * 8000],
)
def test_item8_malformed_docker_content_digest_header_is_a_protocol_error(
    mode: str, bad: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    manifest = build_manifest()
    registry.route("HEAD", MANIFESTS, serve_manifest(manifest, digest_header=bad))

    with pytest.raises(RegistryProtocolError):
        open_store(mode).resolve(tagged(registry))

    assert [request.method for request in registry.requests()] == ["HEAD"]


def test_item8_malformed_digest_in_referrers_is_refused(
    registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": "sha256:../../x", "size": 1}],
    }
    registry.route(
        "GET", REFERRERS, Response(200, {"Content-Type": OCI_INDEX}, json.dumps(body).encode())
    )

    with pytest.raises(RegistryProtocolError):
        open_store().referrers(repository(registry), Digest.from_bytes(b"subject"))

    assert all(".." not in request.target for request in registry.requests())


def test_item8_malformed_digest_in_the_referrers_tag_index_is_refused(
    registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": "sha256:" + "F" * 64, "size": 1}],
    }
    registry.route("GET", REFERRERS, error_response(404, "NOT_FOUND"))
    registry.route(
        "GET", MANIFESTS, Response(200, {"Content-Type": OCI_INDEX}, json.dumps(body).encode())
    )

    with pytest.raises(InvalidDigestError):
        open_store().referrers(repository(registry), Digest.from_bytes(b"subject"))


@pytest.mark.parametrize("echoed", ["sha256:../x", "sha256:" + "0" * 64])
def test_item8_put_manifest_echoing_another_digest_is_rejected(
    echoed: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    registry.route("PUT", MANIFESTS, Response(201, {"Docker-Content-Digest": echoed}))

    with pytest.raises(DigestMismatchError):
        open_store().put_manifest(repository(registry), build_manifest(), tag="1.0")


# -- item 9: unsafe token realms ------------------------------------------------------------

UNSAFE_REALMS = {
    "aws-metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "aws-metadata-decimal": "http://2852039166/latest/meta-data/",
    "aws-metadata-v4-mapped": "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "aws-metadata-trailing-dot": "http://169.254.169.254./latest/meta-data/",
    "aws-metadata-v6": "http://[fd00:ec2::254]/latest/meta-data/",
    "alibaba-metadata": "http://100.100.100.200/latest/meta-data/",
    "unspecified-https": "https://0.0.0.0/token",
    "unspecified-evil-port": "http://0.0.0.0:{evil}/token",
    "zero-evil-port": "http://0:{evil}/token",
    "file": "file:///etc/passwd",
    "gopher": "gopher://127.0.0.1:{evil}/_",
    "gce-metadata": "http://metadata.google.internal/computeMetadata/v1/token",
    "gce-metadata-short": "http://metadata/computeMetadata/v1/token",
    "link-local-v6": "http://[fe80::1]/token",
    "no-host": "http:///token",
}


@MODES
@pytest.mark.parametrize("realm", UNSAFE_REALMS.values(), ids=UNSAFE_REALMS.keys())
def test_item9_unsafe_realm_is_refused_without_any_request_to_it(
    mode: str,
    realm: str,
    registry: HostileRegistry,
    evil: HostileRegistry,
    open_store: Callable[..., Any],
) -> None:
    challenge = bearer_challenge(realm.format(evil=evil.port))
    registry.route(
        "*", r"/v2/.*", error_response(401, "UNAUTHORIZED", headers={"WWW-Authenticate": challenge})
    )
    evil.route("*", ".*", json_response(200, {"token": "stolen"}))
    store = open_store(mode, keychain=StaticKeychain({registry.host: PASSWORD_CREDENTIAL}))
    started = time.monotonic()

    with pytest.raises(UnsafeAuthRealmError) as info:
        store.get_manifest(tagged(registry))

    assert time.monotonic() - started < 2.0  # refused, not attempted and timed out
    assert evil.requests() == []
    assert len(registry.requests()) == 1
    assert_no_secret(info.value)


LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "127.0.0.2",
    "localhost",
    "LocalHost",
    "127.0.0.1.",
    "127.1",
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "0177.0.0.1",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "registry.test@127.0.0.1",
]


@MODES
@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_item9_loopback_realm_is_refused_for_a_registry_not_on_loopback(
    mode: str,
    host: str,
    registry: HostileRegistry,
    evil: HostileRegistry,
    open_store: Callable[..., Any],
) -> None:
    registry.route(
        "*",
        r"/v2/.*",
        error_response(
            401,
            "UNAUTHORIZED",
            headers={"WWW-Authenticate": bearer_challenge(f"http://{host}:{evil.port}/token")},
        ),
    )
    evil.route("*", ".*", json_response(200, {"token": "stolen"}))
    store = open_store(
        mode,
        keychain=StaticKeychain({"registry.test": PASSWORD_CREDENTIAL}),
        hosts={"registry.test": registry},
    )

    with pytest.raises(UnsafeAuthRealmError):
        store.get_manifest(tagged("registry.test"))

    assert evil.requests() == []
    [request] = registry.requests()
    assert request.header("host") == "registry.test"


@MODES
def test_item9_realm_on_the_registry_host_itself_is_used(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    # Control for the test above: the same setup with a realm on the registry works.
    endpoint = TokenEndpoint(basic=(USERNAME, PASSWORD))
    manifest = build_manifest()
    registry.route("GET", "/token", endpoint)
    registry.route(
        "GET",
        MANIFESTS,
        require_authorization(
            endpoint.accepts,
            bearer_challenge("http://registry.test/token"),
            serve_manifest(manifest),
        ),
    )
    store = open_store(
        mode,
        keychain=StaticKeychain({"registry.test": PASSWORD_CREDENTIAL}),
        hosts={"registry.test": registry},
    )

    assert store.get_manifest(tagged("registry.test")).digest == manifest.digest
    assert endpoint.issued == ["issued-token-1"]


def test_item9_loopback_realm_of_a_loopback_registry_is_allowed(
    registry: HostileRegistry, evil: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    # Local test registries put their token server on another loopback port: allowed.
    endpoint = TokenEndpoint(basic=(USERNAME, PASSWORD))
    manifest = build_manifest()
    evil.route("GET", "/token", endpoint)
    registry.route(
        "GET",
        MANIFESTS,
        require_authorization(
            endpoint.accepts, bearer_challenge(f"{evil.url}/token"), serve_manifest(manifest)
        ),
    )
    store = open_store(keychain=StaticKeychain({registry.host: PASSWORD_CREDENTIAL}))

    assert store.get_manifest(tagged(registry)).digest == manifest.digest


@pytest.mark.parametrize(
    ("realm", "registry_name", "scheme", "reason"),
    [
        ("https://169.254.169.254/", "ghcr.io", "https", "link-local"),
        ("https://[fd00:ec2::254]/", "ghcr.io", "https", "metadata"),
        ("http://100.100.100.200/", "registry.test", "http", "metadata"),
        ("https://metadata.google.internal./", "gcr.io", "https", "metadata"),
        ("http://0.0.0.0:5000/token", "127.0.0.1:5000", "http", "unspecified"),
        ("http://0:5000/token", "127.0.0.1:5000", "http", "unspecified"),
        ("file:///etc/passwd", "127.0.0.1:5000", "http", "non-HTTP"),
        ("ftp://ghcr.io/token", "ghcr.io", "https", "non-HTTP"),
        ("https://127.0.0.1:5000/token", "registry.example.com", "https", "loopback"),
        ("https://127.1/token", "registry.example.com", "https", "loopback"),
        ("https://017700000001/token", "registry.example.com", "https", "loopback"),
        ("https://0x7f.0.0.1/token", "registry.example.com", "https", "loopback"),
        ("https://[::ffff:7f00:1]/token", "registry.example.com", "https", "loopback"),
        ("https://localhost./token", "registry.example.com", "https", "loopback"),
        ("https://224.0.0.1/token", "registry.example.com", "https", "reserved"),
        ("http://auth.example.com/token", "registry.example.com", "https", "clear text"),
    ],
)
def test_item9_checked_realm_refuses(
    realm: str, registry_name: str, scheme: str, reason: str
) -> None:
    with pytest.raises(UnsafeAuthRealmError, match=reason):
        RegistryAuth()._checked_realm(realm, registry_name, registry_scheme=scheme)


@pytest.mark.parametrize(
    ("realm", "registry_name", "scheme"),
    [
        ("https://auth.docker.io/token", "docker.io", "https"),
        ("https://ghcr.io/token", "ghcr.io", "https"),
        ("http://127.0.0.1:5001/token", "127.0.0.1:5000", "http"),
        ("http://localhost:5001/token", "localhost:5000", "http"),
        ("https://10.0.0.5/token", "10.0.0.5:5000", "https"),
        ("http://registry.test/token", "registry.test", "http"),
        ("https://token.example.com:8443/auth?x=1", "registry.example.com", "https"),
    ],
)
def test_item9_checked_realm_accepts(realm: str, registry_name: str, scheme: str) -> None:
    checked = RegistryAuth()._checked_realm(realm, registry_name, registry_scheme=scheme)
    assert str(checked).startswith(realm.split("?", maxsplit=1)[0])


def test_item9_allow_unsafe_realms_still_refuses_non_http_schemes() -> None:
    auth = RegistryAuth(allow_unsafe_realms=True)

    assert auth._checked_realm("http://127.0.0.1:1/token", "registry.example.com")
    with pytest.raises(UnsafeAuthRealmError):
        auth._checked_realm("file:///etc/passwd", "registry.example.com")


@MODES
@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "{evil2}/steal"])
def test_item9_token_server_redirect_is_not_followed(
    mode: str,
    target: str,
    registry: HostileRegistry,
    evil: HostileRegistry,
    hostile_registry: Callable[[str], HostileRegistry],
    open_store: Callable[..., Any],
) -> None:
    evil2 = hostile_registry("evil2")
    registry.route(
        "*",
        r"/v2/.*",
        error_response(
            401, "UNAUTHORIZED", headers={"WWW-Authenticate": bearer_challenge(f"{evil.url}/token")}
        ),
    )
    evil.route("*", "/token", Response(302, {"Location": target.format(evil2=evil2.url)}))
    evil2.route("*", ".*", json_response(200, {"token": "stolen"}))
    store = open_store(mode, keychain=StaticKeychain({registry.host: PASSWORD_CREDENTIAL}))
    started = time.monotonic()

    with pytest.raises(RegistryAuthError) as info:
        store.get_manifest(tagged(registry))

    assert time.monotonic() - started < 2.0
    assert info.value.status_code == 302
    assert len(evil.requests(path="/token")) == 1
    assert evil2.requests() == []
    assert_no_secret(info.value)


# -- item 10: redirect to a host that asks for credentials ----------------------------------

CREDENTIAL_KINDS = {
    "basic": RegistryCredential(username=USERNAME, password=PASSWORD),
    "bearer-password": RegistryCredential(username=USERNAME, password=PASSWORD),
    "bearer-identity-token": RegistryCredential(identity_token=IDENTITY_TOKEN),
    "bearer-registry-token": RegistryCredential(registry_token=STATIC_REGISTRY_TOKEN),
}


def _guard_for(
    kind: str, registry: HostileRegistry, endpoint: TokenEndpoint, inner: Response
) -> Callable[[RecordedRequest], Response]:
    if kind == "basic":
        return require_authorization(BASIC, 'Basic realm="registry"', inner)
    if kind == "bearer-registry-token":
        return require_authorization(
            f"Bearer {STATIC_REGISTRY_TOKEN}", registry_challenge(registry), inner
        )
    return require_authorization(endpoint.accepts, registry_challenge(registry), inner)


def _hostile_storage(evil: HostileRegistry, registry: HostileRegistry, *, first: str) -> None:
    """``evil`` answers 401 and points at the registry's own token endpoint (and at itself)."""
    challenge = error_response(
        401,
        "UNAUTHORIZED",
        headers={
            "WWW-Authenticate": bearer_challenge(
                f"{registry.url}/token", scope=f"repository:{PATH}:pull"
            )
            + ', Basic realm="evil"'
        },
    )
    evil.route("*", "/token", TokenEndpoint(prefix="evil-token-"))
    evil.route("*", "/storage/.*", [Response(503), challenge] if first == "503" else challenge)


@pytest.mark.parametrize("kind", CREDENTIAL_KINDS)
@pytest.mark.parametrize("target", ["blob", "manifest"])
@pytest.mark.parametrize("first", ["401", "503"])
def test_item10_redirect_target_asking_for_auth_gets_no_credentials(
    kind: str,
    target: str,
    first: str,
    registry: HostileRegistry,
    evil: HostileRegistry,
    bearer_registry: TokenEndpoint,
    open_store: Callable[..., Any],
) -> None:
    _check_redirect_to_hostile_storage(
        "sync", kind, target, first, registry, evil, bearer_registry, open_store
    )


@pytest.mark.parametrize("kind", ["basic", "bearer-password", "bearer-identity-token"])
def test_item10_redirect_target_asking_for_auth_gets_no_credentials_async(
    kind: str,
    registry: HostileRegistry,
    evil: HostileRegistry,
    bearer_registry: TokenEndpoint,
    open_store: Callable[..., Any],
) -> None:
    _check_redirect_to_hostile_storage(
        "async", kind, "blob", "503", registry, evil, bearer_registry, open_store
    )


def _check_redirect_to_hostile_storage(
    mode: str,
    kind: str,
    target: str,
    first: str,
    registry: HostileRegistry,
    evil: HostileRegistry,
    endpoint: TokenEndpoint,
    open_store: Callable[..., Any],
) -> None:
    content = b"layer"
    redirect = Response(302, {"Location": f"{evil.url}/storage/{target}?X-Amz-Signature=abc"})
    path = BLOBS if target == "blob" else MANIFESTS
    registry.route("GET", path, _guard_for(kind, registry, endpoint, redirect))
    _hostile_storage(evil, registry, first=first)
    store = open_store(mode, keychain=StaticKeychain({registry.host: CREDENTIAL_KINDS[kind]}))

    fetch: Callable[[], object] = (
        (lambda: store.get_blob(repository(registry), Digest.from_bytes(content)))
        if target == "blob"
        else (lambda: store.get_manifest(tagged(registry)))
    )

    with pytest.raises(RegistryAuthError) as info:
        fetch()

    storage = evil.requests(path="/storage/.*")
    assert len(storage) == (2 if first == "503" else 1)  # the redirect was followed
    assert_clean(evil.requests(), *endpoint.issued)
    assert evil.requests(path="/token") == []
    # Only the registry's own challenge was ever answered with a token request.
    expected_token_requests = 1 if kind in ("bearer-password", "bearer-identity-token") else 0
    assert len(registry.requests(path="/token")) == expected_token_requests
    assert registry.requests(path=path)[-1].authorization is not None  # creds were in play
    assert_no_secret(info.value, *endpoint.issued)


# -- item 11: upload Location on another host -----------------------------------------------


def _upload_registry(
    registry: HostileRegistry, endpoint: TokenEndpoint, location: str
) -> Callable[[RecordedRequest], Response]:
    challenge = bearer_challenge(f"{registry.url}/token", scope=f"repository:{PATH}:pull,push")
    registry.route("HEAD", BLOBS, require_authorization(endpoint.accepts, challenge, Response(404)))
    registry.route(
        "POST",
        UPLOADS,
        require_authorization(endpoint.accepts, challenge, Response(202, {"Location": location})),
    )
    return require_authorization(endpoint.accepts, challenge, Response(201))


@MODES
def test_item11_upload_location_on_another_host_gets_no_authorization(
    mode: str,
    registry: HostileRegistry,
    evil: HostileRegistry,
    bearer_registry: TokenEndpoint,
    open_store: Callable[..., Any],
) -> None:
    data = b"signature layer"
    _upload_registry(registry, bearer_registry, f"{evil.url}/upload?x=1")
    evil.route("PUT", "/upload", Response(201))
    store = open_store(mode, keychain=StaticKeychain({registry.host: PASSWORD_CREDENTIAL}))

    digest = store.put_blob(repository(registry), data)

    [put] = evil.requests("PUT")
    assert put.authorization is None
    assert put.query == {"x": ["1"], "digest": [str(digest)]}
    assert put.body == data
    assert_clean(evil.requests(), *bearer_registry.issued)
    assert registry.requests("POST")[-1].authorization == f"Bearer {bearer_registry.issued[-1]}"


@MODES
@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_item11_challenge_from_a_foreign_upload_location_is_not_answered(
    mode: str,
    scheme: str,
    registry: HostileRegistry,
    evil: HostileRegistry,
    bearer_registry: TokenEndpoint,
    open_store: Callable[..., Any],
) -> None:
    # A keychain that would answer for any host: only the request's origin may decide.
    keychain = CallableKeychain(lambda _registry: PASSWORD_CREDENTIAL)
    _upload_registry(registry, bearer_registry, f"{evil.url}/upload?x=1")
    challenge = 'Basic realm="evil"' if scheme == "basic" else bearer_challenge(f"{evil.url}/token")
    evil.route(
        "PUT",
        "/upload",
        error_response(401, "UNAUTHORIZED", headers={"WWW-Authenticate": challenge}),
    )
    evil.route("*", "/token", TokenEndpoint(prefix="evil-token-"))
    store = open_store(mode, keychain=keychain)

    with pytest.raises(RegistryAuthError) as info:
        store.put_blob(repository(registry), b"signature layer")

    assert len(evil.requests("PUT")) == 1
    assert evil.requests(path="/token") == []
    assert_clean(evil.requests(), *bearer_registry.issued)
    assert_no_secret(info.value, *bearer_registry.issued)


@MODES
def test_item11_relative_location_is_resolved_against_the_registry(
    mode: str,
    registry: HostileRegistry,
    bearer_registry: TokenEndpoint,
    open_store: Callable[..., Any],
) -> None:
    data = b"signature layer"
    put = _upload_registry(registry, bearer_registry, f"/v2/{PATH}/blobs/uploads/u1?_state=s1")
    registry.route("PUT", rf"/v2/{PATH}/blobs/uploads/u1", put)
    store = open_store(mode, keychain=StaticKeychain({registry.host: PASSWORD_CREDENTIAL}))

    digest = store.put_blob(repository(registry), data)

    request = registry.requests("PUT")[-1]
    assert request.query == {"_state": ["s1"], "digest": [str(digest)]}
    assert request.body == data
    assert request.authorization == f"Bearer {bearer_registry.issued[-1]}"


@MODES
def test_item11_cancelling_a_mount_upload_on_another_host_sends_no_authorization(
    mode: str,
    registry: HostileRegistry,
    evil: HostileRegistry,
    bearer_registry: TokenEndpoint,
    open_store: Callable[..., Any],
) -> None:
    # The registry declines the mount and opens an upload elsewhere; we cancel it there.
    _upload_registry(registry, bearer_registry, f"{evil.url}/upload?x=1")
    evil.route("DELETE", "/upload", Response(204))
    store = open_store(mode, keychain=StaticKeychain({registry.host: PASSWORD_CREDENTIAL}))

    mounted = store.mount_blob(
        repository(registry), Digest.from_bytes(b"x"), Repository(registry.host, "other/app")
    )

    assert mounted is False
    [delete] = evil.requests("DELETE")
    assert delete.query == {"x": ["1"]}
    assert_clean(evil.requests(), *bearer_registry.issued)


@pytest.mark.parametrize("location", ["file:///etc/passwd", "gopher://127.0.0.1:1/x"])
def test_item11_non_http_upload_location_is_refused(
    location: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    registry.route("HEAD", BLOBS, Response(404))
    registry.route("POST", UPLOADS, Response(202, {"Location": location}))

    with pytest.raises(RegistryProtocolError):
        open_store().put_blob(repository(registry), b"data")


@MODES
@pytest.mark.parametrize("failure", ["503", "drop"])
def test_item11_post_is_never_retried(
    mode: str, failure: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    registry.route("HEAD", BLOBS, Response(404))
    registry.route("POST", UPLOADS, Response(503) if failure == "503" else Response(drop=True))

    error = RegistryError if failure == "503" else RegistryConnectionError
    with pytest.raises(error):
        open_store(mode).put_blob(repository(registry), b"data")

    assert len(registry.requests("POST")) == 1


# -- item 12: hostile token endpoint --------------------------------------------------------


@MODES
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_item12_token_response_of_10_mb_is_refused_at_64_kib(
    mode: str, framing: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    total = 10 * MIB
    registry.route(
        "GET",
        MANIFESTS,
        error_response(
            401, "UNAUTHORIZED", headers={"WWW-Authenticate": registry_challenge(registry)}
        ),
    )
    registry.route(
        "GET",
        "/token",
        Response(
            200,
            {"Content-Type": "application/json"},
            repeated(total, fill=b" "),
            content_length=total if framing == "content-length" else None,
        ),
    )
    store = open_store(mode, keychain=StaticKeychain({registry.host: PASSWORD_CREDENTIAL}))

    info, peak = peak_while_raising(
        SizeLimitExceededError, lambda: store.get_manifest(tagged(registry))
    )

    assert info.value.context["limit"] == MAX_TOKEN_RESPONSE_BYTES == 64 * 1024
    assert peak < 2 * MIB
    [token_request] = registry.requests(path="/token")
    token_request.wait()
    assert token_request.client_disconnected
    assert token_request.bytes_sent < total // 4
    assert_no_secret(info.value)


TOKENLESS_BODIES = {
    "empty-object": b"{}",
    "empty-token": b'{"token": ""}',
    "number-token": b'{"token": 5}',
    "list-token": b'{"access_token": ["a"]}',
    "array": b"[]",
    "null": b"null",
    "not-json": b"<html>login</html>",
}


@MODES
@pytest.mark.parametrize("body", TOKENLESS_BODIES.values(), ids=TOKENLESS_BODIES.keys())
def test_item12_token_response_without_a_token_is_an_auth_error(
    mode: str, body: bytes, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    registry.route(
        "GET",
        MANIFESTS,
        error_response(
            401, "UNAUTHORIZED", headers={"WWW-Authenticate": registry_challenge(registry)}
        ),
    )
    registry.route("GET", "/token", Response(200, {"Content-Type": "application/json"}, body))
    store = open_store(mode, keychain=StaticKeychain({registry.host: PASSWORD_CREDENTIAL}))

    with pytest.raises(RegistryAuthError) as info:
        store.get_manifest(tagged(registry))

    assert "token" in str(info.value)
    if body.startswith((b"{", b"[", b"null")):
        assert "no token" in str(info.value) or "not an object" in str(info.value)
    assert_no_secret(info.value)


@pytest.mark.parametrize("expires_in", [-1, 0, 5, "soon", None])
def test_item12_short_or_bad_expires_in_counts_as_the_60_second_minimum(
    expires_in: object, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    now = [1000.0]
    endpoint = TokenEndpoint(basic=(USERNAME, PASSWORD), expires_in=expires_in)
    content = b"layer"
    registry.route("GET", "/token", endpoint)
    registry.route(
        "GET",
        BLOBS,
        require_authorization(
            endpoint.accepts, registry_challenge(registry), Response(body=content)
        ),
    )
    store = open_store(keychain=StaticKeychain({registry.host: PASSWORD_CREDENTIAL}))
    # The store builds its RegistryAuth itself; swap in one reading a fake clock.
    auth = RegistryAuth(store.keychain.resolve, clock=lambda: now[0])
    store.auth, store._env = auth, HTTPEnv(store.http, auth)

    def fetch_at(seconds: float) -> str | None:
        now[0] = 1000.0 + seconds
        assert store.get_blob(repository(registry), Digest.from_bytes(content)) == content
        return registry.requests(path=BLOBS)[-1].authorization

    assert fetch_at(0) == "Bearer issued-token-1"
    assert fetch_at(30) == "Bearer issued-token-1"
    assert fetch_at(49) == "Bearer issued-token-1"  # not refetched within 50 s
    assert endpoint.issued == ["issued-token-1"]
    assert fetch_at(61) == "Bearer issued-token-2"  # refetched once the minimum has passed
    assert endpoint.issued == ["issued-token-1", "issued-token-2"]
    assert auth.token_requests == 2


# -- retries, error bodies, timeouts --------------------------------------------------------


@MODES
def test_429_with_retry_after_is_honoured_then_succeeds(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    manifest = build_manifest()
    registry.route(
        "GET",
        MANIFESTS,
        [
            error_response(429, "TOOMANYREQUESTS", headers={"Retry-After": "0"}),
            serve_manifest(manifest),
        ],
    )

    assert open_store(mode).get_manifest(tagged(registry)).digest == manifest.digest
    assert len(registry.requests("GET")) == 2


@MODES
def test_503_is_retried_attempts_times_then_fails(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    registry.route("GET", MANIFESTS, error_response(503, "UNAVAILABLE"))
    policy = RetryPolicy(attempts=4, backoff=0.001, max_backoff=0.001)

    with pytest.raises(RegistryError) as info:
        open_store(mode, retry=policy).get_manifest(tagged(registry))

    assert info.value.status_code == 503
    assert len(registry.requests("GET")) == policy.attempts


def test_retry_after_longer_than_allowed_fails_at_once(
    registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    registry.route(
        "GET", MANIFESTS, error_response(429, "TOOMANYREQUESTS", headers={"Retry-After": "3600"})
    )
    started = time.monotonic()

    with pytest.raises(RegistryError) as info:
        open_store().get_manifest(tagged(registry))

    assert info.value.status_code == 429
    assert len(registry.requests("GET")) == 1
    assert time.monotonic() - started < 2.0


@MODES
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_401_with_a_10_mb_body_is_cut_at_the_cap(
    mode: str, framing: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    total = 10 * MIB
    registry.route(
        "GET",
        MANIFESTS,
        Response(
            401,
            {"WWW-Authenticate": registry_challenge(registry)},
            repeated(total),
            content_length=total if framing == "content-length" else None,
        ),
    )
    store = open_store(mode, keychain=StaticKeychain({registry.host: PASSWORD_CREDENTIAL}))

    _, peak = peak_while_raising(
        SizeLimitExceededError, lambda: store.get_manifest(tagged(registry))
    )

    assert peak < 2 * MIB
    [request] = registry.requests("GET")
    assert request.wait().client_disconnected
    assert registry.requests(path="/token") == []


@MODES
def test_404_with_an_endless_body_reads_only_the_error_cap(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    registry.route("GET", MANIFESTS, Response(404, {"Content-Type": "application/json"}, endless()))

    _, peak = peak_while_raising(
        ManifestNotFoundError, lambda: open_store(mode).get_manifest(tagged(registry))
    )

    assert peak < 2 * MIB
    [request] = registry.requests("GET")
    request.wait()
    assert request.client_disconnected
    assert request.bytes_sent < ERROR_BODY_BYTES + 64 * MIB


@MODES
def test_a_registry_that_never_answers_times_out(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    registry.route("GET", MANIFESTS, Response(200, body=b"{}", delay=5.0))
    policy = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.001)
    started = time.monotonic()

    with pytest.raises(RegistryTimeoutError):
        open_store(mode, retry=policy, timeout=httpx.Timeout(0.2)).get_manifest(tagged(registry))

    assert time.monotonic() - started < 2.0
    assert len(registry.requests("GET")) == 2


# -- secrets stay out of errors ---------------------------------------------------------------


def _refused_token(registry: HostileRegistry) -> None:
    registry.route(
        "GET",
        MANIFESTS,
        error_response(
            401, "UNAUTHORIZED", headers={"WWW-Authenticate": registry_challenge(registry)}
        ),
    )
    registry.route(["GET", "POST"], "/token", error_response(401, "UNAUTHORIZED"))


def _token_then_forbidden(registry: HostileRegistry) -> None:
    endpoint = TokenEndpoint(basic=(USERNAME, PASSWORD), refresh_token=IDENTITY_TOKEN)
    registry.route(["GET", "POST"], "/token", endpoint)
    registry.route(
        "GET",
        MANIFESTS,
        require_authorization(
            endpoint.accepts,
            registry_challenge(registry),
            error_response(403, "DENIED", "requested access to the resource is denied"),
        ),
    )


def _basic_refused(registry: HostileRegistry) -> None:
    registry.route(
        "GET",
        MANIFESTS,
        error_response(401, "UNAUTHORIZED", headers={"WWW-Authenticate": 'Basic realm="registry"'}),
    )


def _token_server_down(registry: HostileRegistry) -> None:
    registry.route(
        "GET",
        MANIFESTS,
        error_response(
            401, "UNAUTHORIZED", headers={"WWW-Authenticate": registry_challenge(registry)}
        ),
    )
    registry.route(["GET", "POST"], "/token", Response(drop=True))


SECRET_SCENARIOS = {
    "token-refused": _refused_token,
    "token-then-403": _token_then_forbidden,
    "basic-refused": _basic_refused,
    "token-server-drops": _token_server_down,
}


@pytest.mark.parametrize("scenario", SECRET_SCENARIOS.values(), ids=SECRET_SCENARIOS.keys())
@pytest.mark.parametrize(
    "credential",
    [
        PASSWORD_CREDENTIAL,
        RegistryCredential(identity_token=IDENTITY_TOKEN),
        RegistryCredential(username=USERNAME, password=PASSWORD, identity_token=IDENTITY_TOKEN),
    ],
    ids=["password", "identity-token", "both"],
)
def test_error_messages_never_contain_a_password_or_token(
    scenario: Callable[[HostileRegistry], object],
    credential: RegistryCredential,
    registry: HostileRegistry,
    open_store: Callable[..., Any],
) -> None:
    scenario(registry)
    store = open_store(keychain=StaticKeychain({registry.host: credential}))

    with pytest.raises(ImageSigError) as info:
        store.get_manifest(tagged(registry))

    issued = [
        value.split(" ", 1)[1]
        for request in registry.requests()
        if (value := request.authorization) and value.startswith("Bearer ")
    ]
    assert_no_secret(info.value, *issued, BASIC.split()[1])


@MODES
def test_manifest_put_retries_while_a_blob_is_still_being_linked(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    manifest = build_manifest()
    registry.route(
        "PUT",
        MANIFESTS,
        [
            error_response(400, "MANIFEST_BLOB_UNKNOWN"),
            Response(201, {"Docker-Content-Digest": str(manifest.digest)}),
        ],
    )
    policy = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.001)

    stored = open_store(mode, retry=policy).put_manifest(tagged(registry).repository, manifest)

    assert stored.digest == manifest.digest
    assert len(registry.requests("PUT")) == 2


@MODES
def test_manifest_put_gives_up_when_a_blob_stays_unknown(
    mode: str, registry: HostileRegistry, open_store: Callable[..., Any]
) -> None:
    registry.route("PUT", MANIFESTS, error_response(400, "MANIFEST_BLOB_UNKNOWN"))
    policy = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.001)

    with pytest.raises(RegistryError) as info:
        open_store(mode, retry=policy).put_manifest(tagged(registry).repository, build_manifest())

    assert info.value.errors == ("MANIFEST_BLOB_UNKNOWN",)
    assert len(registry.requests("PUT")) == 4
