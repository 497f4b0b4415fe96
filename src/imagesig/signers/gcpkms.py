"""Cloud KMS keys as signers and verifiers (``gcpkms://`` references).

A key is named the way cosign names it::

    gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V
    gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K/versions/V     (same key)
    gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V
    gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K                (newest enabled)

Without a version, the highest-numbered ``ENABLED`` version is used (compared as numbers,
so version 10 beats version 9); a signer picks it once, on first use.

**Signing.** On first use a signer reads the key version (``GetCryptoKeyVersion``: state
and algorithm) and its public key (``GetPublicKey``) and keeps both, so every later signature
costs exactly one ``AsymmetricSign`` call. Before anything is signed it refuses a version
that is not ``ENABLED``, an algorithm cosign cannot verify, and an ``algorithm=`` that is not
the key's (a P-384 key asked for ECDSA P-256/SHA-256). The message is hashed here with the
algorithm's hash and only the digest is sent, never the data. Algorithms:

| Cloud KMS algorithm | :class:`SignatureAlgorithm` |
|---|---|
| ``EC_SIGN_P256_SHA256`` (cosign's default) | ``ECDSA_P256_SHA256`` |
| ``EC_SIGN_P384_SHA384`` | ``ECDSA_P384_SHA384`` |
| ``RSA_SIGN_PKCS1_{2048,3072,4096}_SHA256`` | ``RSA_PKCS1V15_SHA256`` |
| ``RSA_SIGN_PKCS1_4096_SHA512`` | ``RSA_PKCS1V15_SHA512`` |
| ``RSA_SIGN_PSS_{2048,3072,4096}_SHA256`` | ``RSA_PSS_SHA256`` |
| ``RSA_SIGN_PSS_4096_SHA512`` | ``RSA_PSS_SHA512`` |

Others (secp256k1, Ed25519, raw PKCS#1, post-quantum) raise
:class:`~imagesig.errors.UnsupportedAlgorithmError`. A public key exported to a PEM file
loses its algorithm; verifiers given such a file assume PKCS#1 v1.5 with SHA-256 for RSA
(as cosign does), so verify signatures of PSS and SHA-512 keys through the ``gcpkms://``
reference, or pass the algorithm.

**Integrity.** Every request and response is checked as Google's data-integrity guidance
asks: the request carries ``digest_crc32c``; a response is accepted only when
``verified_digest_crc32c`` is true, ``signature_crc32c`` matches the signature, its ``name``
is the key version asked for, and (our own addition) the signature verifies with the key's
public key; ``GetPublicKey`` answers must match their ``pem_crc32c`` and name. A failed check
is retried up to :data:`INTEGRITY_ATTEMPTS` times in all, then
:class:`~imagesig.errors.KMSIntegrityError` is raised; a bad signature is never returned.

**Errors.** Transient failures (``UNAVAILABLE``, ``DEADLINE_EXCEEDED``) are retried with
jittered exponential backoff, ``attempts`` times in all, then raise
:class:`~imagesig.errors.KMSUnavailableError`; each call has a ``timeout``. Other gRPC errors
map to :class:`~imagesig.errors.KMSError` subclasses naming the key: ``PERMISSION_DENIED`` and
``UNAUTHENTICATED`` to :class:`~imagesig.errors.KMSPermissionError`, whose hint names the
IAM role to grant:

| to | grant on the key (or its key ring or project) |
|---|---|
| sign | ``roles/cloudkms.signerVerifier`` |
| verify / read the public key | ``roles/cloudkms.viewer`` and ``roles/cloudkms.verifier`` |
| create a key (:func:`create_key`) | ``roles/cloudkms.admin`` |

A signer whose account may not read key-version metadata (``roles/cloudkms.signerVerifier``
alone) still works: the service refuses disabled versions at ``GetPublicKey`` anyway.
``NOT_FOUND`` becomes :class:`~imagesig.errors.KMSKeyNotFoundError`,
``FAILED_PRECONDITION`` :class:`~imagesig.errors.KMSKeyStateError`.

**Endpoint and credentials.** The service is ``cloudkms.googleapis.com`` unless
``endpoint=`` or the ``IMAGESIG_GCPKMS_ENDPOINT`` environment variable says otherwise
(a regional or Private Service Connect endpoint, an emulator): ``host[:port]`` or
``https://host[:port]`` use TLS; a loopback address (``127.0.0.1:8443``, ``localhost:9010``,
``[::1]:9010``, optionally written ``http://…``) uses a plaintext channel, as emulators need.
Credentials are Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's
application-default login, the metadata server, hence Workload Identity on GKE) unless
``credentials=`` is given. They are refreshed once before the first call, so a refused
token is reported as such instead of as a long run of ``UNAVAILABLE`` retries.

A plaintext loopback endpoint (an emulator, a local proxy) is sent a bearer token only from
credentials meant for it: those given as ``credentials=`` (``"default"`` for Application
Default Credentials) or, when ``credentials=`` is not given, the service account's access
token from the metadata server that ``GCE_METADATA_HOST`` (or ``GCE_METADATA_ROOT``) names,
unless ``NO_GCE_CHECK`` is ``true``. Naming a metadata server is what an environment standing
in for Google Cloud does (a fake metadata server next to a local KMS), so the Workload Identity
story runs there with nothing else configured. Credentials
found otherwise (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's login, a Google machine) are
not sent to a plaintext loopback endpoint unless asked for: an emulator on a laptop neither
receives the developer's token nor waits for its refresh. With ``credentials="anonymous"``
nothing is sent anywhere. An already built client can
be passed as ``client=`` instead (a ``KeyManagementServiceClient`` for :class:`GcpKmsSigner`, a
``KeyManagementServiceAsyncClient`` for :class:`AsyncGcpKmsSigner`); it is used as is.

**Sync and async.** Both signers run the same flows (:mod:`imagesig._flow`): the sync one on
the blocking client, the async one on the asyncio client, made in the running event loop.
``google-cloud-kms``, ``grpc`` and ``google-crc32c`` are imported on first use only.

Example::

    signer = GcpKmsSigner("gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/versions/1")
    signature = signer.sign(payload)              # one AsymmetricSign after the first call
    assert signer.public_key().verify(signature, payload)
"""

from __future__ import annotations

import hashlib
import inspect
import ipaddress
import itertools
import logging
import os
import random
import re
import threading
import weakref
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

import attrs

from imagesig._flow import Exclusive, Flow, KeyedLocks, Sleep, drive_async, drive_sync
from imagesig.errors import (
    ImageSigError,
    KeyFormatError,
    KMSError,
    KMSIntegrityError,
    KMSKeyNotFoundError,
    KMSKeyStateError,
    KMSPermissionError,
    KMSUnavailableError,
    SignerError,
    UnsupportedAlgorithmError,
)
from imagesig.signers.base import SUPPORTED_RSA_KEY_SIZES, PublicKey, SignatureAlgorithm

if TYPE_CHECKING:
    from collections.abc import Mapping

    from google.auth.credentials import Credentials

#: ``credentials=``: google-auth credentials, ``"default"`` (Application Default Credentials,
#: also on a plaintext loopback endpoint) or ``"anonymous"`` (none, also over TLS); ``None``
#: picks ADC, or for a plaintext loopback endpoint the metadata server's token only when
#: ``GCE_METADATA_HOST`` names one (see the module notes).
CredentialsSetting: TypeAlias = "Credentials | Literal['default', 'anonymous'] | None"

__all__ = [
    "CREATE_ROLES",
    "DEFAULT_ATTEMPTS",
    "DEFAULT_KMS_ALGORITHM",
    "DEFAULT_TIMEOUT",
    "ENDPOINT_ENV_VAR",
    "INTEGRITY_ATTEMPTS",
    "SIGN_ROLES",
    "SUPPORTED_KMS_ALGORITHMS",
    "VERIFY_ROLES",
    "AsyncGcpKmsSigner",
    "CredentialsSetting",
    "GcpKmsSigner",
    "KeyReference",
    "async_create_key",
    "async_fetch_public_key",
    "create_key",
    "fetch_public_key",
    "kms_algorithm",
]

#: The environment variable that overrides the Cloud KMS endpoint (see the module notes).
ENDPOINT_ENV_VAR = "IMAGESIG_GCPKMS_ENDPOINT"
#: What :func:`create_key` makes unless told otherwise (cosign's default too).
DEFAULT_KMS_ALGORITHM = "EC_SIGN_P256_SHA256"
#: Calls made in all when responses keep failing their integrity checks.
INTEGRITY_ATTEMPTS = 3
#: Calls made in all when the service keeps being unavailable.
DEFAULT_ATTEMPTS = 5
#: Seconds one call may take.
DEFAULT_TIMEOUT = 30.0
#: IAM roles named when signing is refused.
SIGN_ROLES = ("roles/cloudkms.signerVerifier",)
#: IAM roles named when reading a key for verification is refused.
VERIFY_ROLES = ("roles/cloudkms.viewer", "roles/cloudkms.verifier")
#: IAM roles named when creating a key is refused.
CREATE_ROLES = ("roles/cloudkms.admin",)

#: Cloud KMS algorithms imagesig signs with, and the algorithm each one is.
SUPPORTED_KMS_ALGORITHMS: dict[str, SignatureAlgorithm] = {
    "EC_SIGN_P256_SHA256": SignatureAlgorithm.ECDSA_P256_SHA256,
    "EC_SIGN_P384_SHA384": SignatureAlgorithm.ECDSA_P384_SHA384,
    "RSA_SIGN_PKCS1_2048_SHA256": SignatureAlgorithm.RSA_PKCS1V15_SHA256,
    "RSA_SIGN_PKCS1_3072_SHA256": SignatureAlgorithm.RSA_PKCS1V15_SHA256,
    "RSA_SIGN_PKCS1_4096_SHA256": SignatureAlgorithm.RSA_PKCS1V15_SHA256,
    "RSA_SIGN_PKCS1_4096_SHA512": SignatureAlgorithm.RSA_PKCS1V15_SHA512,
    "RSA_SIGN_PSS_2048_SHA256": SignatureAlgorithm.RSA_PSS_SHA256,
    "RSA_SIGN_PSS_3072_SHA256": SignatureAlgorithm.RSA_PSS_SHA256,
    "RSA_SIGN_PSS_4096_SHA256": SignatureAlgorithm.RSA_PSS_SHA256,
    "RSA_SIGN_PSS_4096_SHA512": SignatureAlgorithm.RSA_PSS_SHA512,
}

_log = logging.getLogger(__name__)
_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_REFERENCE = re.compile(
    r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/keyRings/(?P<key_ring>[^/]+)"
    r"/cryptoKeys/(?P<crypto_key>[^/]+)(?:/(?:cryptoKeyVersions|versions)/(?P<version>[^/]+))?"
)
# sigstore's names for the algorithms its GCP provider creates (cosign generate-key-pair --kms).
_SIGSTORE_NAMES = {
    "ecdsa-p256-sha256": "EC_SIGN_P256_SHA256",
    "ecdsa-p384-sha384": "EC_SIGN_P384_SHA384",
    **{f"rsa-pkcs1v15-{n}-sha256": f"RSA_SIGN_PKCS1_{n}_SHA256" for n in (2048, 3072, 4096)},
    "rsa-pkcs1v15-4096-sha512": "RSA_SIGN_PKCS1_4096_SHA512",
    **{f"rsa-pss-{n}-sha256": f"RSA_SIGN_PSS_{n}_SHA256" for n in (2048, 3072, 4096)},
    "rsa-pss-4096-sha512": "RSA_SIGN_PSS_4096_SHA512",
}
_MAX_VERSIONS = 10_000  # a key with more versions than this is not listed further
_GENERATION_POLLS = 10  # a new HSM key version takes a few seconds to generate
_BLOCKED_STATES = {
    "DISABLED": "disabled",
    "DESTROYED": "destroyed",
    "DESTROY_SCHEDULED": "scheduled for destruction",
    "PENDING_GENERATION": "still being generated",
}


@attrs.frozen
class KeyReference:
    """A Cloud KMS key, and optionally one of its versions.

    Attributes:
        project: the project id.
        location: ``global`` or a region.
        key_ring: the key ring id.
        crypto_key: the key id.
        version: the version id, or ``None`` for "the newest enabled version".
    """

    project: str
    location: str
    key_ring: str
    crypto_key: str
    version: str | None = None

    @classmethod
    def parse(cls, reference: str) -> KeyReference:
        """Parse ``gcpkms://…``, ``gcpkms:…`` or a bare ``projects/…`` resource name.

        Args:
            reference: the key reference (either version form: ``cryptoKeyVersions/V`` or
                ``versions/V``).

        Returns:
            The parsed reference.

        Raises:
            KeyFormatError: the text is not a Cloud KMS key reference.
        """
        text = reference.strip()
        for prefix in ("gcpkms://", "gcpkms:"):
            if text[: len(prefix)].lower() == prefix:
                text = text[len(prefix) :]
                break
        match = _REFERENCE.fullmatch(text)
        if match is None:
            raise KeyFormatError(
                f"{reference!r} is not a Cloud KMS key reference",
                hint="write gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K"
                "/cryptoKeyVersions/V (or …/versions/V)",
                key=reference,
            )
        return cls(**match.groupdict())

    @property
    def location_name(self) -> str:
        """``projects/P/locations/L``."""
        return f"projects/{self.project}/locations/{self.location}"

    @property
    def key_ring_name(self) -> str:
        """``projects/P/locations/L/keyRings/R``."""
        return f"{self.location_name}/keyRings/{self.key_ring}"

    @property
    def crypto_key_name(self) -> str:
        """``projects/P/locations/L/keyRings/R/cryptoKeys/K``."""
        return f"{self.key_ring_name}/cryptoKeys/{self.crypto_key}"

    @property
    def version_name(self) -> str | None:
        """The key version's resource name, or ``None`` when no version is named."""
        if self.version is None:
            return None
        return f"{self.crypto_key_name}/cryptoKeyVersions/{self.version}"

    @property
    def uri(self) -> str:
        """The canonical ``gcpkms://`` URI (``cryptoKeyVersions`` form)."""
        return f"gcpkms://{self.version_name or self.crypto_key_name}"

    def __str__(self) -> str:
        return self.uri


def kms_algorithm(algorithm: str | SignatureAlgorithm, *, rsa_key_size: int | None = None) -> str:
    """Return the Cloud KMS algorithm name for a key to create.

    Args:
        algorithm: a Cloud KMS name (``"EC_SIGN_P384_SHA384"``, any case), sigstore's name
            for it (``"ecdsa-p256-sha256"``, ``"rsa-pkcs1v15-3072-sha256"``), a
            :class:`SignatureAlgorithm` or a name :meth:`SignatureAlgorithm.from_flag` reads
            (``"ecdsa-sha2-384-nistp384"``, ``"rsa-sign-pss-2048-sha256"``).
        rsa_key_size: the RSA size when ``algorithm`` does not fix one (default 3072; the
            SHA-512 algorithms exist only with 4096 bits).

    Returns:
        A key of :data:`SUPPORTED_KMS_ALGORITHMS`.

    Raises:
        UnsupportedAlgorithmError: Cloud KMS has no such key that cosign can verify.
    """
    size_from_name: int | None = None
    if isinstance(algorithm, str):
        text = algorithm.strip()
        if text.upper() in SUPPORTED_KMS_ALGORITHMS:
            return text.upper()
        if text.lower() in _SIGSTORE_NAMES:
            return _SIGSTORE_NAMES[text.lower()]
        chosen, size_from_name = SignatureAlgorithm.from_flag(text)
    else:
        chosen = algorithm
    size = size_from_name or rsa_key_size
    if chosen.key_type == "rsa":
        hash_bits = "SHA512" if chosen.hash_name == "sha512" else "SHA256"
        size = size or (4096 if hash_bits == "SHA512" else 3072)
        padding = "PSS" if chosen.name.startswith("RSA_PSS") else "PKCS1"
        name = f"RSA_SIGN_{padding}_{size}_{hash_bits}"
        if size in SUPPORTED_RSA_KEY_SIZES and name in SUPPORTED_KMS_ALGORITHMS:
            return name
        raise UnsupportedAlgorithmError(
            f"Cloud KMS has no {chosen.name} key of {size} bits "
            "(SHA-512 RSA keys are 4096 bits; SHA-256 ones 2048, 3072 or 4096)"
        )
    if size is not None:
        raise UnsupportedAlgorithmError(f"an RSA key size does not apply to {chosen.name}")
    for name, value in SUPPORTED_KMS_ALGORITHMS.items():
        if value is chosen:
            return name
    supported = ", ".join(SUPPORTED_KMS_ALGORITHMS)
    raise UnsupportedAlgorithmError(
        f"Cloud KMS has no {chosen.name} key that cosign can verify; use one of {supported}"
    )


# -- the connection: clients, credentials, endpoint -------------------------------------------


@attrs.frozen
class _Policy:
    timeout: float
    attempts: int
    backoff: float
    max_backoff: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds before retry ``attempt`` (1-based): jittered, doubling, capped."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def _parse_endpoint(value: str) -> tuple[str, bool]:
    """Return ``(host:port, plaintext)`` for an endpoint setting."""
    text = value.strip().rstrip("/")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    scheme = scheme.lower()
    if scheme not in ("", "http", "https") or not rest or "/" in rest:
        raise SignerError(
            f"Cloud KMS endpoint {value!r} is not host[:port], https://host[:port] or "
            "http://LOOPBACK:port",
            setting=ENDPOINT_ENV_VAR,
        )
    host = rest.rsplit(":", 1)[0] if not rest.endswith("]") else rest
    loopback = _is_loopback(host.strip("[]"))
    if scheme == "http" and not loopback:
        raise SignerError(
            f"Cloud KMS endpoint {value!r} is plaintext HTTP to a non-loopback host; "
            "imagesig sends credentials only over TLS",
            hint="use https://, or a loopback address for an emulator",
            setting=ENDPOINT_ENV_VAR,
        )
    if ":" not in rest.rsplit("]", 1)[-1]:
        rest = f"{rest}:{80 if scheme == 'http' else 443}"
    return rest, loopback and scheme != "https"


def _metadata_server_configured(environ: Mapping[str, str]) -> bool:
    """Whether the environment names a metadata server (no network, no file read)."""
    if environ.get("NO_GCE_CHECK", "").lower() == "true":
        return False
    return bool(environ.get("GCE_METADATA_HOST") or environ.get("GCE_METADATA_ROOT"))


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Connection:
    """Lazily made KMS clients for one signer: sync, and one async client per event loop."""

    def __init__(self, client: Any, credentials: CredentialsSetting, endpoint: str | None) -> None:
        if isinstance(credentials, str) and credentials not in ("default", "anonymous"):
            raise ValueError(
                "credentials must be google-auth credentials, 'default' or 'anonymous'"
            )
        self._injected = client
        self._setting = credentials
        self._credentials: Credentials | None = None
        self._resolved = False
        setting = endpoint if endpoint is not None else os.environ.get(ENDPOINT_ENV_VAR) or None
        self._address: str | None = None
        self._plaintext = False
        if setting is not None and client is None:
            self._address, self._plaintext = _parse_endpoint(setting)
        # Read once, like the endpoint: see the module notes on loopback endpoints.
        self._loopback_metadata = (
            self._plaintext and credentials is None and _metadata_server_configured(os.environ)
        )
        self._lock = threading.Lock()
        self._sync_client: Any = None
        self._async_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._authorized = False

    @property
    def description(self) -> str:
        """The endpoint, for messages."""
        if self._injected is not None:
            return "the client given"
        return self._address or "cloudkms.googleapis.com"

    def sync_client(self) -> Any:
        if self._injected is not None:
            return self._injected
        with self._lock:
            if self._sync_client is None:
                self._sync_client = self._make_client(asynchronous=False)
            return self._sync_client

    def async_client(self) -> Any:
        if self._injected is not None:
            return self._injected
        import asyncio  # noqa: PLC0415 - loaded already whenever this runs; keeps import light

        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._async_clients.get(loop)
            if client is None:
                client = self._async_clients[loop] = self._make_client(asynchronous=True)
            return client

    def _make_client(self, *, asynchronous: bool) -> Any:
        from google.cloud import kms_v1  # noqa: PLC0415 - heavy, and only needed here
        from google.cloud.kms_v1.services.key_management_service import (  # noqa: PLC0415
            transports,
        )

        if self._plaintext:
            import grpc  # noqa: PLC0415
            import grpc.aio  # noqa: PLC0415

            assert self._address is not None
            # A loopback emulator: no TLS, and no proxy from the environment in between.
            options = [("grpc.enable_http_proxy", 0)]
            if asynchronous:
                channel = grpc.aio.insecure_channel(self._address, options=options)
                return kms_v1.KeyManagementServiceAsyncClient(
                    transport=transports.KeyManagementServiceGrpcAsyncIOTransport(channel=channel)
                )
            return kms_v1.KeyManagementServiceClient(
                transport=transports.KeyManagementServiceGrpcTransport(
                    channel=grpc.insecure_channel(self._address, options=options)
                )
            )
        client_type = (
            kms_v1.KeyManagementServiceAsyncClient
            if asynchronous
            else kms_v1.KeyManagementServiceClient
        )
        from google.api_core.client_options import ClientOptions  # noqa: PLC0415

        client_options = (
            None if self._address is None else ClientOptions(api_endpoint=self._address)
        )
        credentials = self._resolve_credentials()
        if credentials is None:  # asked for none: keep the client from looking for ADC itself
            from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415

            credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return client_type(credentials=credentials, client_options=client_options)

    def _wants_adc(self) -> bool:
        if self._injected is not None:
            return False
        if self._setting is None:
            return not self._plaintext or self._loopback_metadata
        return self._setting == "default"

    def _resolve_credentials(self) -> Credentials | None:
        """The credentials whose token is sent, or ``None`` for calls without any."""
        if self._resolved:
            return self._credentials
        credentials: Credentials | None = None
        if self._loopback_metadata:
            from google.auth import compute_engine  # noqa: PLC0415

            credentials = compute_engine.Credentials(scopes=list(_SCOPES))  # type: ignore[no-untyped-call]
        elif self._wants_adc():
            import google.auth  # noqa: PLC0415

            credentials, _project = google.auth.default(scopes=list(_SCOPES))
        elif self._injected is None and not isinstance(self._setting, (str, type(None))):
            credentials = self._setting
        if credentials is not None:
            from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415

            if isinstance(credentials, AnonymousCredentials):
                credentials = None
        self._credentials, self._resolved = credentials, True
        return credentials

    def authorize(self) -> None:
        """Resolve and refresh the credentials before the first call (see module notes)."""
        if self._authorized:
            return
        credentials = self._resolve_credentials()
        if credentials is not None and not credentials.valid:
            from google.auth.transport.requests import Request  # noqa: PLC0415

            cast(Any, credentials).refresh(Request())
        self._authorized = True

    def call_metadata(self) -> tuple[tuple[str, str], ...]:
        """Metadata to add to a call: a bearer token for a plaintext endpoint with credentials."""
        if not self._plaintext:
            return ()
        credentials = self._resolve_credentials()
        if credentials is None:
            return ()
        if not credentials.valid:
            from google.auth.transport.requests import Request  # noqa: PLC0415

            cast(Any, credentials).refresh(Request())
        return (("authorization", f"Bearer {credentials.token}"),)

    def needs_blocking_auth(self) -> bool:
        """Whether :meth:`authorize`/:meth:`call_metadata` may do blocking I/O now."""
        if not self._resolved and self._wants_adc():
            return True  # looking up Application Default Credentials may reach the network
        credentials = self._resolve_credentials()
        return credentials is not None and not credentials.valid

    def close(self) -> None:
        with self._lock:
            client, self._sync_client = self._sync_client, None
        if client is not None:
            client.transport.close()

    async def aclose(self) -> None:
        import asyncio  # noqa: PLC0415

        with self._lock:
            client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.transport.close()


# -- effects -----------------------------------------------------------------------------------


@attrs.frozen
class _Authorize:
    """Effect: make sure the credentials are resolved and fresh."""

    def run_sync(self, env: _Connection) -> None:
        env.authorize()

    async def run_async(self, env: _Connection) -> None:
        if env.needs_blocking_auth():
            import asyncio  # noqa: PLC0415

            await asyncio.to_thread(env.authorize)
        else:
            env.authorize()


@attrs.frozen
class _Rpc:
    """Effect: one KMS call with no retries of its own (the flow retries)."""

    method: str
    request: Any
    timeout: float

    def run_sync(self, env: _Connection) -> Any:
        client = env.sync_client()
        result = getattr(client, self.method)(
            request=self.request, retry=None, timeout=self.timeout, metadata=env.call_metadata()
        )
        if self.method.startswith("list_"):
            return list(itertools.islice(result, _MAX_VERSIONS))
        return result

    async def run_async(self, env: _Connection) -> Any:
        client = env.async_client()
        if env.needs_blocking_auth():
            import asyncio  # noqa: PLC0415

            metadata = await asyncio.to_thread(env.call_metadata)
        else:
            metadata = env.call_metadata()
        result = getattr(client, self.method)(
            request=self.request, retry=None, timeout=self.timeout, metadata=metadata
        )
        if inspect.isawaitable(result):
            result = await result
        if not self.method.startswith("list_"):
            return result
        if not hasattr(result, "__aiter__"):
            return list(itertools.islice(result, _MAX_VERSIONS))
        items = []
        async for item in result:
            items.append(item)
            if len(items) >= _MAX_VERSIONS:
                break
        return items


# -- flows -------------------------------------------------------------------------------------


@attrs.frozen
class _Job:
    """What every flow needs: the key, what we are doing, and how hard to try."""

    key: str
    operation: str  # "sign", "verify" or "create": picks the IAM roles named on refusal
    policy: _Policy

    @property
    def roles(self) -> tuple[str, ...]:
        return {"sign": SIGN_ROLES, "verify": VERIFY_ROLES}.get(self.operation, CREATE_ROLES)


@attrs.frozen
class _KeyState:
    """What a signer keeps after its first call."""

    name: str
    kms_algorithm: str
    algorithm: SignatureAlgorithm
    public_key: PublicKey


def _call(job: _Job, method: str, request: Any, action: str) -> Flow[Any]:
    """Call ``method``, retrying transient failures; errors come out as KMSError."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return (yield _Rpc(method, request, job.policy.timeout))
        except Exception as exc:
            error, transient = _translate(exc, job, action)
            if error is None:
                raise
            if not transient or attempt >= job.policy.attempts:
                if transient:
                    error = KMSUnavailableError(
                        f"{error.message} (gave up after {attempt} attempts)",
                        hint=error.hint,
                        **error.context,
                    )
                raise error from exc
            delay = job.policy.delay(attempt)
            _log.debug("%s for %s failed (%s); retrying in %.2fs", action, job.key, exc, delay)
            yield Sleep(delay)


def _authorize(job: _Job) -> Flow[None]:
    try:
        yield _Authorize()
    except Exception as exc:
        error, _transient = _translate(exc, job, "use")
        if error is None:
            raise
        raise error from exc


def _load(
    reference: KeyReference, expected: SignatureAlgorithm | None, job: _Job
) -> Flow[_KeyState]:
    """Read the key version's metadata and public key, and check both."""
    from google.cloud import kms_v1  # noqa: PLC0415

    yield from _authorize(job)
    name = reference.version_name
    version: Any = None
    if name is None:
        versions = yield from _call(
            job,
            "list_crypto_key_versions",
            kms_v1.ListCryptoKeyVersionsRequest(
                parent=reference.crypto_key_name, filter="state=ENABLED"
            ),
            "list the versions of",
        )
        version = _newest_enabled(versions, reference, job)
        name = str(version.name)
        _log.debug("%s: newest enabled version is %s", job.key, name)
    else:
        try:
            version = yield from _call(
                job,
                "get_crypto_key_version",
                kms_v1.GetCryptoKeyVersionRequest(name=name),
                "read the key version",
            )
        except KMSPermissionError:
            # roles/cloudkms.signerVerifier alone may not read metadata; the service still
            # refuses a version that is not enabled when asked for its public key.
            _log.debug("%s: no permission to read the key version; relying on GetPublicKey", name)
            version = None
    kms_algorithm = None
    if version is not None:
        kms_algorithm = _check_version(version, name, job)
        _signature_algorithm(kms_algorithm, expected, job)  # fail before fetching anything else
    response = yield from _fetch_public_key(name, job)
    reported = _enum_name(kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm, response.algorithm)
    if kms_algorithm is not None and reported != kms_algorithm:
        raise KMSIntegrityError(
            f"Cloud KMS described {job.key} as {kms_algorithm} but its public key as {reported}",
            key=job.key,
            operation=job.operation,
        )
    kms_algorithm = reported
    algorithm = _signature_algorithm(kms_algorithm, expected, job)
    try:
        public_key = PublicKey.from_pem(response.pem, algorithm=algorithm, source=job.key)
    except ImageSigError as exc:
        raise KMSIntegrityError(
            f"the public key Cloud KMS returned for {job.key} is not a {kms_algorithm} key: "
            f"{exc.message}",
            key=job.key,
            operation=job.operation,
        ) from exc
    return _KeyState(name, kms_algorithm, algorithm, public_key)


def _fetch_public_key(name: str, job: _Job) -> Flow[Any]:
    from google.cloud import kms_v1  # noqa: PLC0415

    request = kms_v1.GetPublicKeyRequest(name=name)
    problem = ""
    for attempt in range(1, INTEGRITY_ATTEMPTS + 1):
        response = yield from _call(job, "get_public_key", request, "read the public key of")
        pem = str(response.pem).encode("utf-8")
        checksum = response.pem_crc32c
        if response.name != name:
            problem = f"the response is for {response.name or 'no key'}, not {name}"
        elif checksum is None:
            problem = "the response has no pem_crc32c checksum"
        elif _crc32c(pem) != checksum:
            problem = "the public key does not match its pem_crc32c checksum"
        else:
            return response
        _log.warning("GetPublicKey for %s failed an integrity check (%s), attempt %d",
                     name, problem, attempt)  # fmt: skip
    raise KMSIntegrityError(
        f"the public key of {job.key} failed its integrity checks {INTEGRITY_ATTEMPTS} times: "
        f"{problem}",
        key=job.key,
        operation=job.operation,
    )


def _sign(state: _KeyState, data: bytes, job: _Job) -> Flow[bytes]:
    """Hash ``data``, have the key version sign the digest, check and return the signature."""
    from google.cloud import kms_v1  # noqa: PLC0415

    hash_name = state.algorithm.hash_name
    assert hash_name is not None  # every supported KMS algorithm signs a digest
    digest = hashlib.new(hash_name, data).digest()
    request = kms_v1.AsymmetricSignRequest(
        name=state.name,
        digest=kms_v1.Digest(**{hash_name: digest}),
        digest_crc32c=_crc32c(digest),
    )
    problem = ""
    for attempt in range(1, INTEGRITY_ATTEMPTS + 1):
        try:
            response = yield from _call(job, "asymmetric_sign", request, "sign with")
        except KMSIntegrityError as exc:  # the service says the digest arrived damaged
            problem = exc.message
        else:
            problem = _signature_problem(response, state, digest)
            if not problem:
                return bytes(response.signature)
        _log.warning("AsymmetricSign with %s failed an integrity check (%s), attempt %d",
                     state.name, problem, attempt)  # fmt: skip
    raise KMSIntegrityError(
        f"signing with {job.key} failed its integrity checks {INTEGRITY_ATTEMPTS} times: {problem}",
        hint="no signature was produced; if this persists, check for a proxy or a broken "
        "network path between this host and Cloud KMS",
        key=job.key,
        operation=job.operation,
    )


def _signature_problem(response: Any, state: _KeyState, digest: bytes) -> str:
    signature = bytes(response.signature)
    if not response.verified_digest_crc32c:
        return "the service did not confirm the digest's checksum (verified_digest_crc32c=false)"
    if response.name != state.name:
        return f"the response is for {response.name or 'no key'}, not {state.name}"
    checksum = response.signature_crc32c
    if checksum is None or _crc32c(signature) != checksum:
        return "the signature does not match its signature_crc32c checksum"
    if not state.public_key.verify_digest(signature, digest):
        return "the signature does not verify with the key version's public key"
    return ""


def _create(
    reference: KeyReference, kms_algorithm: str, protection_level: str, job: _Job
) -> Flow[_KeyState]:
    """Create the key ring and key when missing, then load the key's version."""
    from google.cloud import kms_v1  # noqa: PLC0415

    yield from _authorize(job)
    try:
        yield from _call(
            job,
            "get_key_ring",
            kms_v1.GetKeyRingRequest(name=reference.key_ring_name),
            "read the key ring of",
        )
    except KMSKeyNotFoundError:
        _log.info("creating key ring %s", reference.key_ring_name)
        yield from _create_ignoring_race(
            job,
            "create_key_ring",
            kms_v1.CreateKeyRingRequest(
                parent=reference.location_name, key_ring_id=reference.key_ring
            ),
            "create the key ring of",
        )
    Purpose = kms_v1.CryptoKey.CryptoKeyPurpose  # noqa: N806 - an enum type
    get_key = kms_v1.GetCryptoKeyRequest(name=reference.crypto_key_name)
    try:
        key = yield from _call(job, "get_crypto_key", get_key, "read")
    except KMSKeyNotFoundError:
        _log.info("creating key %s (%s)", reference.crypto_key_name, kms_algorithm)
        template = kms_v1.CryptoKeyVersionTemplate(
            algorithm=_enum_member(
                kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm, kms_algorithm
            ),
            protection_level=_enum_member(kms_v1.ProtectionLevel, protection_level),
        )
        request = kms_v1.CreateCryptoKeyRequest(
            parent=reference.key_ring_name,
            crypto_key_id=reference.crypto_key,
            crypto_key=kms_v1.CryptoKey(purpose=Purpose.ASYMMETRIC_SIGN, version_template=template),
        )
        key = yield from _create_ignoring_race(job, "create_crypto_key", request, "create")
        if key is None:  # created meanwhile by someone else
            key = yield from _call(job, "get_crypto_key", get_key, "read")
    if key.purpose != Purpose.ASYMMETRIC_SIGN:
        raise KMSKeyStateError(
            f"{reference.crypto_key_name} exists with purpose "
            f"{_enum_name(Purpose, key.purpose)}, not ASYMMETRIC_SIGN",
            key=job.key,
            operation=job.operation,
        )
    for attempt in range(1, _GENERATION_POLLS + 1):
        try:
            return (yield from _load(reference, None, job))
        except KMSKeyStateError as exc:
            pending = exc.context.get("state") in ("PENDING_GENERATION", None)
            if not pending or attempt == _GENERATION_POLLS:
                raise
            yield Sleep(job.policy.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _create_ignoring_race(job: _Job, method: str, request: Any, action: str) -> Flow[Any]:
    """Create something; ``None`` when it was created meanwhile (ALREADY_EXISTS)."""
    try:
        return (yield from _call(job, method, request, action))
    except KMSError as exc:
        if exc.context.get("status") != "ALREADY_EXISTS":
            raise
        return None


# -- checks and translation --------------------------------------------------------------------


def _crc32c(data: bytes) -> int:
    import google_crc32c  # noqa: PLC0415 - a compiled extension, loaded on first use

    return int(google_crc32c.value(data))


def _enum_member(enum_type: Any, name: str) -> Any:
    return enum_type.__members__[name]


def _enum_name(enum_type: Any, value: Any) -> str:
    try:
        return str(enum_type(value).name)
    except ValueError:
        return str(value)


def _newest_enabled(versions: list[Any], reference: KeyReference, job: _Job) -> Any:
    from google.cloud import kms_v1  # noqa: PLC0415

    prefix = f"{reference.crypto_key_name}/cryptoKeyVersions/"
    enabled = [
        version
        for version in versions
        if version.state == kms_v1.CryptoKeyVersion.CryptoKeyVersionState.ENABLED
        and str(version.name).startswith(prefix)
    ]
    if not enabled:
        raise KMSKeyStateError(
            f"{reference.crypto_key_name} has no enabled key version",
            hint="enable a version, or name one: …/cryptoKeyVersions/N",
            key=job.key,
            operation=job.operation,
        )

    def number(version: Any) -> tuple[int, str]:
        tail = str(version.name)[len(prefix) :]
        return (int(tail) if tail.isdigit() else -1, tail)

    return max(enabled, key=number)


def _check_version(version: Any, name: str, job: _Job) -> str:
    from google.cloud import kms_v1  # noqa: PLC0415

    if version.name and version.name != name:
        raise KMSIntegrityError(
            f"Cloud KMS answered for {version.name} when asked about {name}",
            key=job.key,
            operation=job.operation,
        )
    state = _enum_name(kms_v1.CryptoKeyVersion.CryptoKeyVersionState, version.state)
    if state != "ENABLED":
        described = _BLOCKED_STATES.get(state, f"in state {state}")
        raise KMSKeyStateError(
            f"key version {job.key} is {described}; it cannot "
            f"{'sign' if job.operation == 'sign' else 'be used'}",
            hint="enable the version in Cloud KMS, or name another version",
            key=job.key,
            operation=job.operation,
            state=state,
        )
    return _enum_name(kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm, version.algorithm)


def _signature_algorithm(
    kms_algorithm: str, expected: SignatureAlgorithm | None, job: _Job
) -> SignatureAlgorithm:
    algorithm = SUPPORTED_KMS_ALGORITHMS.get(kms_algorithm)
    if algorithm is None:
        raise UnsupportedAlgorithmError(
            f"{job.key} is a {kms_algorithm} key, which cosign cannot verify",
            hint="use an EC_SIGN_P256_SHA256, EC_SIGN_P384_SHA384 or RSA_SIGN_PKCS1/PSS key",
            key=job.key,
        )
    if expected is not None and expected is not algorithm:
        raise UnsupportedAlgorithmError(
            f"{job.key} is a {kms_algorithm} key ({algorithm.name}); it cannot sign "
            f"{expected.name}",
            hint="drop the algorithm setting, or use a key made for that algorithm",
            key=job.key,
        )
    return algorithm


def _translate(exc: Exception, job: _Job, action: str) -> tuple[KMSError | None, bool]:
    """Map a foreign exception to (our error, whether retrying may help)."""
    from google.api_core import exceptions as api_exceptions  # noqa: PLC0415
    from google.auth import exceptions as auth_exceptions  # noqa: PLC0415

    context: dict[str, Any] = {"key": job.key, "operation": job.operation}
    if isinstance(exc, auth_exceptions.DefaultCredentialsError):
        return KMSPermissionError(
            f"no Google credentials found to {action} {job.key}",
            hint="set GOOGLE_APPLICATION_CREDENTIALS, run 'gcloud auth application-default "
            "login', or run on Google Cloud with a service account (Workload Identity on GKE)",
            **context,
        ), False
    if isinstance(exc, auth_exceptions.RefreshError):
        # google-auth wraps its message (and the HTTP response object after it) in layers.
        inner: object = exc
        while isinstance(inner, BaseException) and inner.args:
            inner = inner.args[0]
        reason = inner if isinstance(inner, str) else str(exc)
        return KMSPermissionError(
            f"could not obtain an access token to {action} {job.key}: {' '.join(reason.split())}",
            hint="check the service account and the metadata server; on GKE, annotate the "
            "Kubernetes service account with iam.gke.io/gcp-service-account=GSA_EMAIL and grant "
            "it roles/iam.workloadIdentityUser on that Google service account",
            **context,
        ), bool(getattr(exc, "retryable", False))
    if isinstance(exc, auth_exceptions.TransportError):
        return KMSUnavailableError(
            f"could not reach the credential service to {action} {job.key}: {exc}", **context
        ), True
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        code = exc.grpc_status_code
        status = code.name if code is not None else str(exc.code)
        detail = exc.message
    else:
        code_method = getattr(exc, "code", None)
        status_code = code_method() if callable(code_method) else None
        if status_code is None or not hasattr(status_code, "name"):
            return None, False
        status = str(status_code.name)
        details = getattr(exc, "details", None)
        detail = str(details() if callable(details) else exc)
    context["status"] = status
    where = f"Cloud KMS ({status}) refused to {action} {job.key}: {detail}"
    if status in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return KMSUnavailableError(
            f"Cloud KMS could not {action} {job.key}: {status}: {detail}", **context
        ), True
    if status == "PERMISSION_DENIED":
        roles = " and ".join(job.roles)
        return KMSPermissionError(
            f"{where} (the account needs {roles})",
            hint=f"grant {roles} on the key (or its key ring or project) to the account "
            "imagesig runs as",
            roles=job.roles,
            **context,
        ), False
    if status == "UNAUTHENTICATED":
        return KMSPermissionError(
            where,
            hint="the credentials were not accepted; check Application Default Credentials "
            "or the credentials= given",
            **context,
        ), False
    if status == "NOT_FOUND":
        return KMSKeyNotFoundError(where, **context), False
    if status == "FAILED_PRECONDITION":
        return KMSKeyStateError(where, hint="is the key version enabled?", **context), False
    if status == "INVALID_ARGUMENT" and (
        "crc32c" in detail.lower() or "checksum" in detail.lower()
    ):
        return KMSIntegrityError(where, **context), False
    return KMSError(where, **context), False


# -- public API --------------------------------------------------------------------------------


class _GcpKmsKey:
    """What both signers share: the reference, connection, call policy and cached state."""

    def __init__(
        self,
        reference: str | KeyReference,
        *,
        client: Any = None,
        credentials: CredentialsSetting = None,
        endpoint: str | None = None,
        algorithm: SignatureAlgorithm | str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = 0.2,
    ) -> None:
        self._reference = (
            reference if isinstance(reference, KeyReference) else KeyReference.parse(reference)
        )
        if isinstance(algorithm, str):
            algorithm = SignatureAlgorithm.from_flag(algorithm)[0]
        self._expected = algorithm
        if attempts < 1 or timeout <= 0 or backoff < 0:
            raise ValueError("attempts must be >= 1, timeout > 0 and backoff >= 0")
        self._policy = _Policy(timeout=timeout, attempts=attempts, backoff=backoff)
        self._connection = _Connection(client, credentials, endpoint)
        self._state: _KeyState | None = None
        self._locks = KeyedLocks()

    @property
    def name(self) -> str:
        """The key's ``gcpkms://`` URI (the version picked, once known)."""
        if self._state is not None:
            return f"gcpkms://{self._state.name}"
        return self._reference.uri

    @property
    def reference(self) -> KeyReference:
        """The key as given."""
        return self._reference

    def _job(self, operation: str = "sign") -> _Job:
        return _Job(self._reference.uri, operation, self._policy)

    def _cached_state(self) -> Flow[_KeyState]:
        if self._state is None:
            self._state = yield from _load(self._reference, self._expected, self._job())
        return self._state

    def _state_flow(self) -> Flow[_KeyState]:
        state = self._state
        if state is None:
            state = yield Exclusive(self._locks, "load", self._cached_state())
        return state

    def _sign_flow(self, data: bytes) -> Flow[bytes]:
        state = yield from self._state_flow()
        return (yield from _sign(state, data, self._job()))

    def _public_key_flow(self) -> Flow[PublicKey]:
        state = yield from self._state_flow()
        return state.public_key

    def __repr__(self) -> str:
        algorithm = self._state.kms_algorithm if self._state else "not loaded"
        return (
            f"{type(self).__name__}({self.name!r}, {algorithm}, "
            f"endpoint={self._connection.description!r})"
        )


class GcpKmsSigner(_GcpKmsKey):
    """Sign with a Cloud KMS key version (see the module notes for everything it checks).

    Nothing is contacted until the first :meth:`sign`, :meth:`public_key` or
    :attr:`algorithm` (on Python 3.10 and 3.11, ``isinstance(signer, Signer)`` reads
    :attr:`algorithm` too). The signer is thread-safe and keeps its client; :meth:`close`
    releases it.

    Args:
        reference: ``gcpkms://…`` (either version form), ``gcpkms:…`` or a parsed
            :class:`KeyReference`.
        client: a ``google.cloud.kms_v1.KeyManagementServiceClient`` to use as is.
        credentials: ``google.auth`` credentials, ``"default"`` for Application Default
            Credentials (the default, except on a plaintext loopback endpoint, which gets
            the metadata server's token when ``GCE_METADATA_HOST`` names one, and no
            credentials otherwise unless asked) or ``"anonymous"`` for none.
        endpoint: ``host[:port]`` of the service; default ``IMAGESIG_GCPKMS_ENDPOINT`` or
            ``cloudkms.googleapis.com``.
        algorithm: the algorithm the key must have (a :class:`SignatureAlgorithm` or its flag
            name); a key of another algorithm is refused before signing.
        timeout: seconds one call may take.
        attempts: calls made in all when the service is unavailable.
        backoff: base delay in seconds between those calls (doubling, jittered, capped at 2s).

    Raises:
        KeyFormatError: ``reference`` is not a Cloud KMS key reference.
        SignerError: the endpoint setting is malformed.
    """

    @property
    def algorithm(self) -> SignatureAlgorithm:
        """The key's algorithm (read from Cloud KMS on first access)."""
        return self.public_key().algorithm

    @property
    def key_version(self) -> str:
        """The resource name of the key version used (read from Cloud KMS on first access)."""
        self.public_key()
        assert self._state is not None
        return self._state.name

    def public_key(self) -> PublicKey:
        """Return the key version's public key, carrying its algorithm.

        Returns:
            The public key (fetched once, then cached).

        Raises:
            KMSError: the key could not be read (subclasses say why).
            UnsupportedAlgorithmError: the key's algorithm is one cosign cannot verify, or not
                the ``algorithm`` asked for.
        """
        return drive_sync(self._public_key_flow(), self._connection)

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``: hash it here, send the digest, check the answer.

        Args:
            data: the message (not a digest).

        Returns:
            The signature (DER for ECDSA), checked against the public key.

        Raises:
            KMSIntegrityError: the answers kept failing their integrity checks.
            KMSPermissionError: the account may not sign with the key.
            KMSKeyStateError: the key version is disabled, destroyed...
            KMSUnavailableError: Cloud KMS could not be reached.
            KMSError: any other refusal.
            UnsupportedAlgorithmError: as for :meth:`public_key`.
        """
        return drive_sync(self._sign_flow(data), self._connection)

    def close(self) -> None:
        """Close the client this signer made (an injected client is left open)."""
        self._connection.close()

    def __enter__(self) -> GcpKmsSigner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncGcpKmsSigner(_GcpKmsKey):
    """The async twin of :class:`GcpKmsSigner`, on ``KeyManagementServiceAsyncClient``.

    Takes the same arguments (``client`` is a ``KeyManagementServiceAsyncClient``). Its
    client is made in the event loop of the first call (one per loop).
    """

    @property
    def algorithm(self) -> SignatureAlgorithm:
        """The key's algorithm, once known.

        Raises:
            SignerError: neither ``algorithm=`` was given nor has the key been read yet
                (``await signer.public_key()`` reads it).
        """
        if self._state is not None:
            return self._state.algorithm
        if self._expected is not None:
            return self._expected
        raise SignerError(
            f"the algorithm of {self.name} is known once the key has been read; "
            "await public_key() first",
            key=self.name,
        )

    async def public_key(self) -> PublicKey:
        """Return the key version's public key; see :meth:`GcpKmsSigner.public_key`."""
        return await drive_async(self._public_key_flow(), self._connection)

    async def sign(self, data: bytes) -> bytes:
        """Sign ``data``; see :meth:`GcpKmsSigner.sign`."""
        return await drive_async(self._sign_flow(data), self._connection)

    async def aclose(self) -> None:
        """Close the client made for the running event loop."""
        await self._connection.aclose()


def fetch_public_key(reference: str | KeyReference, **options: Any) -> PublicKey:
    """Read a key version's public key, for verification or ``imagesig public-key``.

    Needs only ``roles/cloudkms.viewer`` and ``roles/cloudkms.verifier``. The same checks
    as for signing apply (enabled version, supported algorithm, ``pem_crc32c``).

    Args:
        reference: as for :class:`GcpKmsSigner`.
        **options: :class:`GcpKmsSigner`'s keyword arguments.

    Returns:
        The public key, carrying the key's algorithm (so PSS and SHA-512 keys verify).

    Raises:
        KMSError: the key could not be read (subclasses say why).
        UnsupportedAlgorithmError: the key's algorithm is one cosign cannot verify.
    """
    with GcpKmsSigner(reference, **options) as key:
        return drive_sync(_verify_flow(key), key._connection)


async def async_fetch_public_key(reference: str | KeyReference, **options: Any) -> PublicKey:
    """The async twin of :func:`fetch_public_key`."""
    key = AsyncGcpKmsSigner(reference, **options)
    try:
        return await drive_async(_verify_flow(key), key._connection)
    finally:
        await key.aclose()


def _verify_flow(key: _GcpKmsKey) -> Flow[PublicKey]:
    state = yield from _load(key._reference, key._expected, key._job("verify"))
    return state.public_key


def create_key(
    reference: str | KeyReference,
    algorithm: str | SignatureAlgorithm = DEFAULT_KMS_ALGORITHM,
    *,
    rsa_key_size: int | None = None,
    protection_level: str = "SOFTWARE",
    **options: Any,
) -> PublicKey:
    """Create a signing key (and its key ring) unless it exists; return its public key.

    What ``imagesig generate-key-pair --kms gcpkms://…`` does. An existing key is kept as it
    is (whatever its algorithm), as cosign does; its newest enabled version, or the version
    named, is returned. Needs ``roles/cloudkms.admin``.

    Args:
        reference: ``gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K`` (a version
            suffix is allowed and picks that version of an existing key).
        algorithm: see :func:`kms_algorithm`; default ``EC_SIGN_P256_SHA256``.
        rsa_key_size: see :func:`kms_algorithm`.
        protection_level: ``"SOFTWARE"`` or ``"HSM"``.
        **options: :class:`GcpKmsSigner`'s keyword arguments (``endpoint``, ``client``...).

    Returns:
        The public key of the key version, carrying its algorithm.

    Raises:
        UnsupportedAlgorithmError: ``algorithm`` is not one Cloud KMS and cosign share.
        KMSPermissionError: the account may not create keys.
        KMSError: the key could not be created or read (subclasses say why).
    """
    name = kms_algorithm(algorithm, rsa_key_size=rsa_key_size)
    with GcpKmsSigner(reference, **options) as key:
        flow = _create(key._reference, name, protection_level, key._job("create"))
        return drive_sync(flow, key._connection).public_key


async def async_create_key(
    reference: str | KeyReference,
    algorithm: str | SignatureAlgorithm = DEFAULT_KMS_ALGORITHM,
    *,
    rsa_key_size: int | None = None,
    protection_level: str = "SOFTWARE",
    **options: Any,
) -> PublicKey:
    """The async twin of :func:`create_key`."""
    name = kms_algorithm(algorithm, rsa_key_size=rsa_key_size)
    key = AsyncGcpKmsSigner(reference, **options)
    try:
        flow = _create(key._reference, name, protection_level, key._job("create"))
        return (await drive_async(flow, key._connection)).public_key
    finally:
        await key.aclose()
