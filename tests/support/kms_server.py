"""A loopback Cloud KMS server for tests: the real gRPC API, real keys, injectable faults.

:class:`FakeKMS` serves ``google.cloud.kms.v1.KeyManagementService`` on ``127.0.0.1`` over an
insecure channel, so the unmodified ``google-cloud-kms`` client (sync and asyncio) talks to it
exactly as it talks to Google. ``google-cloud-kms`` ships proto-plus message classes but no
servicer base class, so the methods are served by grpcio generic handlers that (de)serialise
with the messages' own ``serialize``/``deserialize``.

Methods: ``GetKeyRing``, ``CreateKeyRing``, ``GetCryptoKey``, ``CreateCryptoKey``,
``GetCryptoKeyVersion``, ``ListCryptoKeyVersions``, ``GetPublicKey`` and ``AsymmetricSign``.
They behave like the real service where imagesig depends on it:

* keys are real: ECDSA P-256/P-384 (and secp256k1, Ed25519 for refusal tests) and RSA
  PKCS#1 v1.5 and PSS (salt length = digest length) of 2048, 3072 and 4096 bits;
* ``AsymmetricSign`` wants the digest of the version's hash (``INVALID_ARGUMENT`` otherwise),
  checks ``digest_crc32c`` when sent (``INVALID_ARGUMENT`` on a mismatch) and answers with
  ``signature_crc32c``, ``verified_digest_crc32c`` and the version ``name``;
* a version that is not ``ENABLED`` answers ``FAILED_PRECONDITION`` to ``GetPublicKey`` and
  ``AsymmetricSign``; unknown names answer ``NOT_FOUND``; existing ones ``ALREADY_EXISTS`` to
  a create;
* ``CreateCryptoKey`` makes version 1 (``ENABLED``) unless told to skip it.

Faults (:meth:`FakeKMS.inject`) change the next *n* answers of one method, or all of them:
a status code instead of an answer, a wrong ``signature_crc32c``,
``verified_digest_crc32c=False``, a response naming another key version, a wrong
``pem_crc32c``, a signature made over other bytes. :meth:`FakeKMS.misreport_algorithm`
makes the metadata of a version lie about its algorithm.

Authentication: by default any caller is served. :meth:`FakeKMS.require_bearer_token` makes
every method demand ``authorization: Bearer <token>`` metadata (a fixed token or a predicate,
e.g. "was issued by the fake metadata server") and answer ``UNAUTHENTICATED`` otherwise.

Every call is recorded (:attr:`FakeKMS.calls`, :attr:`FakeKMS.counts`).

Example::

    with FakeKMS() as kms:
        uri = kms.add_key("projects/p/locations/global/keyRings/r/cryptoKeys/k")
        kms.inject("AsymmetricSign", "signature_crc32c", times=1)
        signer = GcpKmsSigner(uri, endpoint=kms.endpoint)
"""

from __future__ import annotations

import functools
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import google_crc32c
import grpc
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from google.cloud import kms_v1

__all__ = [
    "FAULT_KINDS",
    "SERVICE",
    "SUPPORTED_ALGORITHMS",
    "Algorithm",
    "FakeKMS",
    "Fault",
    "Purpose",
    "RecordedCall",
    "State",
]
#: The gRPC service name.
SERVICE = "google.cloud.kms.v1.KeyManagementService"

Algorithm = kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm
State = kms_v1.CryptoKeyVersion.CryptoKeyVersionState
Purpose = kms_v1.CryptoKey.CryptoKeyPurpose

#: What a fault does; see :meth:`FakeKMS.inject`.
FAULT_KINDS = frozenset(
    {"status", "signature_crc32c", "unverified_digest", "wrong_name", "pem_crc32c", "bad_signature"}
)

# algorithm name -> (key kind, size or curve, hash name or None)
_ALGORITHMS: dict[str, tuple[str, Any, str | None]] = {
    "EC_SIGN_P256_SHA256": ("ec", ec.SECP256R1, "sha256"),
    "EC_SIGN_P384_SHA384": ("ec", ec.SECP384R1, "sha384"),
    "EC_SIGN_SECP256K1_SHA256": ("ec", ec.SECP256K1, "sha256"),
    "EC_SIGN_ED25519": ("ed25519", None, None),
    "RSA_SIGN_PKCS1_2048_SHA256": ("pkcs1", 2048, "sha256"),
    "RSA_SIGN_PKCS1_3072_SHA256": ("pkcs1", 3072, "sha256"),
    "RSA_SIGN_PKCS1_4096_SHA256": ("pkcs1", 4096, "sha256"),
    "RSA_SIGN_PKCS1_4096_SHA512": ("pkcs1", 4096, "sha512"),
    "RSA_SIGN_PSS_2048_SHA256": ("pss", 2048, "sha256"),
    "RSA_SIGN_PSS_3072_SHA256": ("pss", 3072, "sha256"),
    "RSA_SIGN_PSS_4096_SHA256": ("pss", 4096, "sha256"),
    "RSA_SIGN_PSS_4096_SHA512": ("pss", 4096, "sha512"),
}
#: Algorithm names the fake can generate keys for.
SUPPORTED_ALGORITHMS = frozenset(_ALGORITHMS)
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_KEY_RING = re.compile(r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+")
_CRYPTO_KEY = re.compile(_KEY_RING.pattern + r"/cryptoKeys/[^/]+")
_VERSION = re.compile(_CRYPTO_KEY.pattern + r"/cryptoKeyVersions/[^/]+")


def _algorithm(name: str) -> Any:
    return Algorithm.__members__[name]


def _crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


@functools.cache
def _rsa_key(size: int) -> rsa.RSAPrivateKey:
    # RSA generation is slow (a 4096-bit key takes most of a second): one key per size and
    # process is enough for tests, which tell versions apart by name.
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def _generate(algorithm: str) -> Any:
    kind, parameter, _ = _ALGORITHMS[algorithm]
    if kind == "ec":
        return ec.generate_private_key(parameter())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return _rsa_key(parameter)


@dataclass
class Fault:
    """One injected fault; see :meth:`FakeKMS.inject`.

    Attributes:
        method: the gRPC method name (``"AsymmetricSign"``...).
        kind: one of :data:`FAULT_KINDS`.
        times: how many more calls it applies to; ``None`` for every call.
        code: for ``"status"``: the status code to answer with.
        name: apply only to requests for this resource name (``None``: any).
        message: for ``"status"``: the error message (default: says it was injected).
        hits: how many calls it has applied to so far.
    """

    method: str
    kind: str
    times: int | None = 1
    code: grpc.StatusCode | None = None
    name: str | None = None
    message: str | None = None
    hits: int = 0


@dataclass(frozen=True)
class RecordedCall:
    """One call as the server saw it.

    Attributes:
        method: the gRPC method name.
        name: the resource name (or parent) of the request.
        metadata: the request metadata (keys lowercase), ``authorization`` included.
        request: the request message as received.
    """

    method: str
    name: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    request: Any = None


@dataclass
class _Version:
    private_key: Any
    algorithm: str
    state: int = State.ENABLED
    reported_algorithm: str | None = None


@dataclass
class _CryptoKey:
    purpose: int
    algorithm: str
    protection_level: int
    versions: dict[str, _Version] = field(default_factory=dict)


class _AbortError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FakeKMS:
    """A Cloud KMS gRPC server on a free loopback port.

    Args:
        max_workers: server threads (concurrent calls served at once).
    """

    def __init__(self, *, max_workers: int = 16) -> None:
        self._lock = threading.Lock()
        self._max_workers = max_workers
        self._key_rings: set[str] = set()
        self._keys: dict[str, _CryptoKey] = {}
        self._faults: list[Fault] = []
        self._token_check: Callable[[str], bool] | None = None
        self.calls: list[RecordedCall] = []
        #: Versions per ``ListCryptoKeyVersions`` page when the request names no page size
        #: (0: all on one page).
        self.list_page_size = 0
        self._server: grpc.Server | None = None
        self._port = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeKMS:
        """Start serving; returns ``self``."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self._max_workers))
        handlers: dict[str, tuple[Callable[[Any], Any], Any, Any]] = {
            "GetKeyRing": (self._get_key_ring, kms_v1.GetKeyRingRequest, kms_v1.KeyRing),
            "CreateKeyRing": (self._create_key_ring, kms_v1.CreateKeyRingRequest, kms_v1.KeyRing),
            "GetCryptoKey": (self._get_crypto_key, kms_v1.GetCryptoKeyRequest, kms_v1.CryptoKey),
            "CreateCryptoKey": (
                self._create_crypto_key,
                kms_v1.CreateCryptoKeyRequest,
                kms_v1.CryptoKey,
            ),
            "GetCryptoKeyVersion": (
                self._get_version,
                kms_v1.GetCryptoKeyVersionRequest,
                kms_v1.CryptoKeyVersion,
            ),
            "ListCryptoKeyVersions": (
                self._list_versions,
                kms_v1.ListCryptoKeyVersionsRequest,
                kms_v1.ListCryptoKeyVersionsResponse,
            ),
            "GetPublicKey": (self._get_public_key, kms_v1.GetPublicKeyRequest, kms_v1.PublicKey),
            "AsymmetricSign": (
                self._asymmetric_sign,
                kms_v1.AsymmetricSignRequest,
                kms_v1.AsymmetricSignResponse,
            ),
        }
        methods = {
            method: grpc.unary_unary_rpc_method_handler(
                self._wrap(method, function),
                request_deserializer=request_type.deserialize,
                response_serializer=response_type.serialize,
            )
            for method, (function, request_type, response_type) in handlers.items()
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, methods),))
        self._port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving (in-flight calls get a moment to finish)."""
        if self._server is not None:
            self._server.stop(grace=0.5).wait()
            self._server = None

    def __enter__(self) -> FakeKMS:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT``, the value for ``IMAGESIG_GCPKMS_ENDPOINT`` or ``endpoint=``."""
        return f"127.0.0.1:{self._port}"

    # -- keys ------------------------------------------------------------------------------

    def add_key(
        self,
        crypto_key: str,
        algorithm: str = "EC_SIGN_P256_SHA256",
        *,
        versions: int = 1,
        purpose: int = Purpose.ASYMMETRIC_SIGN,
        protection_level: int = kms_v1.ProtectionLevel.SOFTWARE,
    ) -> str:
        """Create a key (and its key ring) with ``versions`` enabled versions.

        Args:
            crypto_key: ``projects/P/locations/L/keyRings/R/cryptoKeys/K``.
            algorithm: a name from :data:`SUPPORTED_ALGORITHMS`.
            versions: how many versions to create (numbered from 1).
            purpose: the key's purpose.
            protection_level: reported protection level.

        Returns:
            The ``gcpkms://`` URI of the last version created.
        """
        if not _CRYPTO_KEY.fullmatch(crypto_key):
            raise ValueError(f"not a crypto key name: {crypto_key}")
        with self._lock:
            self._key_rings.add(crypto_key.rsplit("/cryptoKeys/", 1)[0])
            self._keys[crypto_key] = _CryptoKey(int(purpose), algorithm, int(protection_level))
        name = ""
        for _ in range(versions):
            name = self.add_version(crypto_key)
        return f"gcpkms://{name}"

    def add_version(self, crypto_key: str, state: int = State.ENABLED) -> str:
        """Add the next version to ``crypto_key`` and return its resource name."""
        with self._lock:
            key = self._keys[crypto_key]
            number = len(key.versions) + 1
            key.versions[str(number)] = _Version(_generate(key.algorithm), key.algorithm, state)
        return f"{crypto_key}/cryptoKeyVersions/{number}"

    def set_state(self, version_name: str, state: int) -> None:
        """Set a version's state (``State.DISABLED``...); accepts a ``gcpkms://`` URI."""
        with self._lock:
            self._version(_strip(version_name)).state = int(state)

    def misreport_algorithm(self, version_name: str, algorithm: str) -> None:
        """Make ``GetCryptoKeyVersion``/``GetPublicKey`` report ``algorithm`` for a version
        whose key is of another algorithm (signing still uses the real key)."""
        with self._lock:
            self._version(_strip(version_name)).reported_algorithm = algorithm

    def public_key_pem(self, version_name: str) -> bytes:
        """The version's public key as SPKI PEM."""
        with self._lock:
            private_key = self._version(_strip(version_name)).private_key
        return bytes(
            private_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def has_key(self, crypto_key: str) -> bool:
        """Whether the crypto key exists."""
        with self._lock:
            return crypto_key in self._keys

    def has_key_ring(self, key_ring: str) -> bool:
        """Whether the key ring exists."""
        with self._lock:
            return key_ring in self._key_rings

    # -- faults, authentication, records ---------------------------------------------------

    def inject(
        self,
        method: str,
        kind: str,
        *,
        times: int | None = 1,
        code: grpc.StatusCode | None = None,
        name: str | None = None,
        message: str | None = None,
    ) -> Fault:
        """Make the next ``times`` calls of ``method`` misbehave (``None``: all of them).

        Args:
            method: ``"AsymmetricSign"``, ``"GetPublicKey"``, ``"GetCryptoKeyVersion"``...
            kind: ``"status"`` (answer with ``code`` instead), ``"signature_crc32c"``
                (a wrong checksum), ``"unverified_digest"`` (``verified_digest_crc32c=False``),
                ``"wrong_name"`` (a response for another key version), ``"pem_crc32c"``
                (a wrong PEM checksum), ``"bad_signature"`` (a signature over other bytes,
                with a matching checksum).
            times: how many calls; ``None`` for every call until :meth:`clear_faults`.
            code: the status code for ``"status"``.
            name: only requests for this resource name.
            message: the error message of a ``"status"`` fault.

        Returns:
            The fault; its :attr:`Fault.hits` counts the calls it changed.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if kind == "status" and code is None:
            raise ValueError("a status fault needs a code")
        fault = Fault(method, kind, times, code, None if name is None else _strip(name), message)
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail(
        self,
        method: str,
        code: grpc.StatusCode,
        *,
        times: int | None = 1,
        name: str | None = None,
        message: str | None = None,
    ) -> Fault:
        """Shorthand for :meth:`inject` with kind ``"status"``."""
        return self.inject(method, "status", times=times, code=code, name=name, message=message)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self._faults.clear()

    def require_bearer_token(self, token: str | Callable[[str], bool] | None) -> None:
        """Demand ``authorization: Bearer <token>`` on every call (``None``: stop demanding).

        Args:
            token: the exact token, or a predicate deciding whether a token is acceptable
                (for tokens issued by another fake, such as a metadata server).
        """
        if token is None or callable(token):
            check = token
        else:
            expected = token

            def check(presented: str) -> bool:
                return presented == expected

        with self._lock:
            self._token_check = check

    @property
    def counts(self) -> Counter[str]:
        """How many calls each method received."""
        with self._lock:
            return Counter(call.method for call in self.calls)

    def reset_calls(self) -> None:
        """Forget the recorded calls."""
        with self._lock:
            self.calls.clear()

    # -- plumbing --------------------------------------------------------------------------

    def _wrap(self, method: str, function: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            metadata = {key.lower(): str(value) for key, value in context.invocation_metadata()}
            name = str(getattr(request, "name", "") or getattr(request, "parent", ""))
            with self._lock:
                self.calls.append(RecordedCall(method, name, metadata, request))
                token_check = self._token_check
                fault = self._take_fault(method, name)
            try:
                if token_check is not None:
                    _authenticate(metadata, token_check)
                if fault is not None and fault.kind == "status":
                    assert fault.code is not None
                    message = fault.message or f"injected {fault.code.name} for {method}"
                    raise _AbortError(fault.code, message)
                response = function(request)
            except _AbortError as abort:
                context.abort(abort.code, abort.message)
            if fault is not None:
                self._apply(fault, response)
            return response

        return handle

    def _take_fault(self, method: str, name: str) -> Fault | None:
        for fault in self._faults:
            if fault.method != method or (fault.name is not None and fault.name != name):
                continue
            if fault.times is not None and fault.hits >= fault.times:
                continue
            fault.hits += 1
            return fault
        return None

    def _apply(self, fault: Fault, response: Any) -> None:
        if fault.kind == "signature_crc32c":
            response.signature_crc32c = (response.signature_crc32c + 1) % 2**32
        elif fault.kind == "unverified_digest":
            response.verified_digest_crc32c = False
        elif fault.kind == "wrong_name":
            base, _, number = response.name.rpartition("/")
            response.name = f"{base}/{int(number) + 1 if number.isdigit() else 99}"
        elif fault.kind == "pem_crc32c":
            response.pem_crc32c = (response.pem_crc32c + 1) % 2**32
        elif fault.kind == "bad_signature":
            signature = bytearray(response.signature)
            signature[len(signature) // 2] ^= 0x01
            response.signature = bytes(signature)
            response.signature_crc32c = _crc32c(bytes(signature))

    def _version(self, name: str) -> _Version:
        if not _VERSION.fullmatch(name):
            raise _AbortError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid key version name {name}")
        crypto_key, _, number = name.rpartition("/cryptoKeyVersions/")
        key = self._keys.get(crypto_key)
        version = None if key is None else key.versions.get(number)
        if version is None:
            raise _AbortError(grpc.StatusCode.NOT_FOUND, f"{name} not found.")
        return version

    def _enabled_version(self, name: str) -> _Version:
        version = self._version(name)
        if version.state != State.ENABLED:
            raise _AbortError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{name} is not enabled, current state is: {State(version.state).name}.",
            )
        return version

    # -- methods ---------------------------------------------------------------------------

    def _get_key_ring(self, request: Any) -> Any:
        with self._lock:
            if request.name not in self._key_rings:
                raise _AbortError(grpc.StatusCode.NOT_FOUND, f"KeyRing {request.name} not found.")
        return kms_v1.KeyRing(name=request.name)

    def _create_key_ring(self, request: Any) -> Any:
        name = f"{request.parent}/keyRings/{request.key_ring_id}"
        if not _KEY_RING.fullmatch(name):
            raise _AbortError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid key ring name {name}")
        with self._lock:
            if name in self._key_rings:
                raise _AbortError(grpc.StatusCode.ALREADY_EXISTS, f"KeyRing {name} already exists.")
            self._key_rings.add(name)
        return kms_v1.KeyRing(name=name)

    def _crypto_key_message(self, name: str, key: _CryptoKey) -> Any:
        return kms_v1.CryptoKey(
            name=name,
            purpose=key.purpose,
            version_template=kms_v1.CryptoKeyVersionTemplate(
                algorithm=_algorithm(key.algorithm), protection_level=key.protection_level
            ),
        )

    def _get_crypto_key(self, request: Any) -> Any:
        with self._lock:
            key = self._keys.get(request.name)
            if key is None:
                raise _AbortError(grpc.StatusCode.NOT_FOUND, f"CryptoKey {request.name} not found.")
            return self._crypto_key_message(request.name, key)

    def _create_crypto_key(self, request: Any) -> Any:
        name = f"{request.parent}/cryptoKeys/{request.crypto_key_id}"
        template = request.crypto_key.version_template
        algorithm = Algorithm(template.algorithm).name
        purpose = request.crypto_key.purpose
        if purpose != Purpose.ASYMMETRIC_SIGN or algorithm not in SUPPORTED_ALGORITHMS:
            raise _AbortError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the fake KMS only makes ASYMMETRIC_SIGN keys, not {algorithm}",
            )
        with self._lock:
            if request.parent not in self._key_rings:
                raise _AbortError(grpc.StatusCode.NOT_FOUND, f"KeyRing {request.parent} not found.")
            if name in self._keys:
                raise _AbortError(
                    grpc.StatusCode.ALREADY_EXISTS, f"CryptoKey {name} already exists."
                )
            level = template.protection_level or kms_v1.ProtectionLevel.SOFTWARE
            key = self._keys[name] = _CryptoKey(int(purpose), algorithm, int(level))
        if not request.skip_initial_version_creation:
            self.add_version(name)
        with self._lock:
            return self._crypto_key_message(name, key)

    def _version_message(self, name: str, version: _Version, level: int) -> Any:
        return kms_v1.CryptoKeyVersion(
            name=name,
            state=version.state,
            algorithm=_algorithm(version.reported_algorithm or version.algorithm),
            protection_level=level,
        )

    def _get_version(self, request: Any) -> Any:
        with self._lock:
            version = self._version(request.name)
            level = self._keys[request.name.rpartition("/cryptoKeyVersions/")[0]].protection_level
            return self._version_message(request.name, version, level)

    def _list_versions(self, request: Any) -> Any:
        with self._lock:
            key = self._keys.get(request.parent)
            if key is None:
                raise _AbortError(
                    grpc.StatusCode.NOT_FOUND, f"CryptoKey {request.parent} not found."
                )
            items = [
                self._version_message(
                    f"{request.parent}/cryptoKeyVersions/{number}", version, key.protection_level
                )
                for number, version in key.versions.items()
            ]
        if request.filter:
            match = re.fullmatch(r"state\s*=\s*(\w+)", request.filter)
            if match is None:
                raise _AbortError(grpc.StatusCode.INVALID_ARGUMENT, f"bad filter {request.filter}")
            items = [item for item in items if State(item.state).name == match[1]]
        start = int(request.page_token or 0)
        size = request.page_size or self.list_page_size or len(items) or 1
        page = items[start : start + size]
        token = str(start + size) if start + size < len(items) else ""
        return kms_v1.ListCryptoKeyVersionsResponse(
            crypto_key_versions=page, next_page_token=token, total_size=len(items)
        )

    def _get_public_key(self, request: Any) -> Any:
        with self._lock:
            version = self._enabled_version(request.name)
            reported = version.reported_algorithm or version.algorithm
            private_key = version.private_key
        pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return kms_v1.PublicKey(
            pem=pem.decode("ascii"),
            algorithm=_algorithm(reported),
            pem_crc32c=_crc32c(pem),
            name=request.name,
            protection_level=kms_v1.ProtectionLevel.SOFTWARE,
        )

    def _asymmetric_sign(self, request: Any) -> Any:
        with self._lock:
            version = self._enabled_version(request.name)
            algorithm = version.algorithm
            private_key = version.private_key
        kind, _, hash_name = _ALGORITHMS[algorithm]
        which = kms_v1.Digest.pb(request.digest).WhichOneof("digest") if request.digest else None
        if kind == "ed25519" or hash_name is None:
            raise _AbortError(
                grpc.StatusCode.INVALID_ARGUMENT, f"{algorithm} signs data, not a digest (fake)"
            )
        if which != hash_name:
            raise _AbortError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"The digest type {which} does not match the algorithm {algorithm}.",
            )
        digest = bytes(getattr(request.digest, hash_name))
        if "digest_crc32c" in request and request.digest_crc32c != _crc32c(digest):
            raise _AbortError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "The checksum in field digest_crc32c did not match the data in field digest.",
            )
        hash_algorithm = _HASHES[hash_name]()
        if len(digest) != hash_algorithm.digest_size:
            raise _AbortError(grpc.StatusCode.INVALID_ARGUMENT, "digest has the wrong length")
        prehashed = Prehashed(hash_algorithm)
        if kind == "ec":
            signature = private_key.sign(digest, ec.ECDSA(prehashed))
        elif kind == "pkcs1":
            signature = private_key.sign(digest, padding.PKCS1v15(), prehashed)
        else:
            pss = padding.PSS(
                mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size
            )
            signature = private_key.sign(digest, pss, prehashed)
        return kms_v1.AsymmetricSignResponse(
            signature=signature,
            signature_crc32c=_crc32c(signature),
            verified_digest_crc32c="digest_crc32c" in request,
            name=request.name,
            protection_level=kms_v1.ProtectionLevel.SOFTWARE,
        )


def _strip(name: str) -> str:
    name = name.removeprefix("gcpkms://").removeprefix("gcpkms:")
    return re.sub(r"/versions/(?=[^/]+$)", "/cryptoKeyVersions/", name)


def _authenticate(metadata: Mapping[str, str], check: Callable[[str], bool]) -> None:
    header = metadata.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or not check(token):
        raise _AbortError(
            grpc.StatusCode.UNAUTHENTICATED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
        )
