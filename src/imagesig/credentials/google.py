"""Google credentials: metadata-server identity tokens, impersonation, and access tokens.

Everything goes through google-auth, imported only when a token is fetched:

* ``google-workload-identity`` — the metadata server's identity endpoint
  (``instance/service-accounts/default/identity?audience=A&format=full`` with
  ``Metadata-Flavor: Google``). On GKE with Workload Identity the pod's Kubernetes service
  account, annotated with a Google service account, receives tokens for that Google account.
* ``google-impersonate`` — when ``GOOGLE_SERVICE_ACCOUNT_NAME`` names a service account, an
  identity token for it from IAM Credentials ``generateIdToken`` (``includeEmail``), paid
  for with Application Default Credentials.
* :func:`google_default_credentials` and :class:`GoogleAccessTokenSource` — OAuth2 access
  tokens from Application Default Credentials, for Cloud KMS and Google's registries.

**Detection never touches the network.** The metadata provider applies when
``GCE_METADATA_HOST`` (or the older ``GCE_METADATA_ROOT``) is set, or when
``/sys/class/dmi/id/product_name`` says the machine is Google's; ``NO_GCE_CHECK=true`` turns
it off. A laptop therefore never waits for ``metadata.google.internal`` to time out. Where
the hardware cannot be seen (some sandboxes), ``GCE_METADATA_HOST=metadata.google.internal``
turns the provider on without changing where google-auth connects.

google-auth reads ``GCE_METADATA_HOST`` once, when ``google.auth.compute_engine`` is first
imported; set it before that. If it changed afterwards, fetching fails with an error saying
so instead of silently asking another host.

Retries: google-auth retries metadata requests that fail to connect or answer 5xx with
exponential backoff — what a freshly started GKE pod needs while its metadata server comes
up. Every request is cut off at the caller's deadline (a backoff sleep already under way
may overrun it by up to its own length).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from imagesig.credentials.base import DEFAULT_TIMEOUT, Detection, IdentityToken
from imagesig.errors import (
    CredentialError,
    CredentialNotFoundError,
    CredentialPermissionError,
    CredentialProviderError,
    InvalidIdentityTokenError,
)

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "PRODUCT_NAME_FILE",
    "SERVICE_ACCOUNT_VARIABLE",
    "GoogleAccessTokenSource",
    "GoogleImpersonationProvider",
    "GoogleMetadataProvider",
    "detect_application_default_credentials",
    "detect_google_cloud",
    "google_default_credentials",
    "metadata_host",
]

_log = logging.getLogger(__name__)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""The OAuth2 scope Cloud KMS and Artifact Registry accept."""

PRODUCT_NAME_FILE = "/sys/class/dmi/id/product_name"
"""Where Linux shows the machine's product name (``Google Compute Engine`` on Google)."""

SERVICE_ACCOUNT_VARIABLE = "GOOGLE_SERVICE_ACCOUNT_NAME"
"""Names the service account ``google-impersonate`` issues identity tokens for."""

_DEFAULT_METADATA_HOST = "metadata.google.internal"
_IDENTITY_PATH = "computeMetadata/v1/instance/service-accounts/default/identity"
_TOKEN_PATH = "computeMetadata/v1/instance/service-accounts/default/token"  # noqa: S105
_MAX_PRODUCT_NAME = 256

_WORKLOAD_IDENTITY_HINT = (
    "on GKE, annotate the pod's Kubernetes service account with "
    "iam.gke.io/gcp-service-account=GSA_EMAIL and grant roles/iam.workloadIdentityUser on that "
    "Google service account to serviceAccount:PROJECT.svc.id.goog[NAMESPACE/KSA]"
)
_NO_IDENTITY_HINT = (
    "the metadata server has no identity endpoint for this workload: GKE Workload Identity "
    "without a Google service account (direct federation) cannot issue identity tokens. "
    + _WORKLOAD_IDENTITY_HINT
    + f", or set {SERVICE_ACCOUNT_VARIABLE} to impersonate one"
)
_ADC_HINT = (
    "run on Google Cloud (GCE, GKE Workload Identity, Cloud Run), set "
    "GOOGLE_APPLICATION_CREDENTIALS to a credentials file, or run "
    "`gcloud auth application-default login`"
)


# -- cheap detection ------------------------------------------------------------------------


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def metadata_host(environ: Mapping[str, str] | None = None) -> str:
    """Return the metadata server host google-auth connects to (``host[:port]``).

    That is the value google-auth read when it was imported, when it has been; otherwise
    what it will read: ``GCE_METADATA_HOST``, else ``GCE_METADATA_ROOT``, else
    ``metadata.google.internal``.

    Args:
        environ: the environment to read (default :data:`os.environ`).
    """
    module = sys.modules.get("google.auth.compute_engine._metadata")
    loaded = getattr(module, "_GCE_METADATA_HOST", None)
    if isinstance(loaded, str) and loaded:
        return loaded
    return _configured_host(_env(environ))


def _configured_host(env: Mapping[str, str]) -> str:
    return env.get("GCE_METADATA_HOST") or env.get("GCE_METADATA_ROOT") or _DEFAULT_METADATA_HOST


def _host_mismatch(env: Mapping[str, str]) -> str | None:
    """Explain when google-auth already uses another host than the environment names."""
    module = sys.modules.get("google.auth.compute_engine._metadata")
    loaded = getattr(module, "_GCE_METADATA_HOST", None)
    wanted = _configured_host(env)
    if isinstance(loaded, str) and loaded and loaded != wanted:
        return (
            f"google-auth was imported before GCE_METADATA_HOST was set and still uses "
            f"{loaded!r}, not {wanted!r}"
        )
    return None


def detect_google_cloud(
    environ: Mapping[str, str] | None = None, *, product_name_file: str = PRODUCT_NAME_FILE
) -> Detection:
    """Say whether a metadata server should be there, without asking it.

    Args:
        environ: the environment to read (default :data:`os.environ`).
        product_name_file: the DMI product-name file (tests).

    Returns:
        Applicable when ``GCE_METADATA_HOST``/``GCE_METADATA_ROOT`` is set or the DMI product
        name starts with ``Google``; not applicable with ``NO_GCE_CHECK=true``.
    """
    env = _env(environ)
    if env.get("NO_GCE_CHECK") == "true":
        return Detection(False, "NO_GCE_CHECK=true")
    for variable in ("GCE_METADATA_HOST", "GCE_METADATA_ROOT"):
        if env.get(variable):
            return Detection(True, f"{variable}={env[variable]}")
    try:
        with open(product_name_file, "rb") as handle:
            product = handle.read(_MAX_PRODUCT_NAME).decode("utf-8", "replace").strip()
    except OSError:
        return Detection(False, f"not on Google Cloud ({product_name_file} is not readable)")
    if product.startswith("Google"):
        return Detection(True, f"{product_name_file} says {product!r}")
    return Detection(False, f"not on Google Cloud ({product_name_file} says {product!r})")


# -- google-auth plumbing -------------------------------------------------------------------


class _DeadlineExceededError(Exception):
    """Raised by :class:`_DeadlineRequest`; not a google-auth error, so no retry catches it."""


class _DeadlineRequest:
    """A google-auth transport request that never waits past a deadline."""

    def __init__(self, deadline: float) -> None:
        from google.auth.transport.requests import Request  # noqa: PLC0415

        self._inner = Request()
        self._deadline = deadline

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise _DeadlineExceededError
        timeout = remaining if timeout is None else min(float(timeout), remaining)
        return self._inner(
            url, method=method, body=body, headers=headers, timeout=timeout, **kwargs
        )


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status google-auth saw, if one is attached anywhere in the chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for arg in current.args:
            status = getattr(arg, "status", None)
            if isinstance(status, int):
                return status
            if isinstance(arg, BaseException):
                nested = _http_status(arg)
                if nested is not None:
                    return nested
        current = current.__cause__ or current.__context__
    return None


def _error_for(
    exc: BaseException,
    *,
    what: str,
    provider: str,
    source: str,
    service_account: str | None,
    permission_hint: str,
    not_found_hint: str | None = None,
) -> CredentialError:
    status = _http_status(exc)
    account = f" for service account {service_account}" if service_account else ""
    context = {"provider": provider, "source": source, "service_account": service_account}
    if status in (401, 403):
        return CredentialPermissionError(
            f"{what}{account} was refused by {source} (HTTP {status})",
            hint=permission_hint,
            **context,
        )
    if status == 404:
        return CredentialProviderError(
            f"{what}{account}: {source} has no such endpoint (HTTP 404)",
            hint=not_found_hint,
            **context,
        )
    if status is not None:
        return CredentialProviderError(
            f"{what}{account} failed: {source} answered HTTP {status}", **context
        )
    return CredentialProviderError(
        f"{what}{account} failed: {source} could not be reached or answered unexpectedly "
        f"({type(exc).__name__})",
        **context,
    )


def _deadline_error(what: str, provider: str, source: str, timeout: float) -> CredentialError:
    return CredentialProviderError(
        f"{what} did not finish within {timeout:g} s (asking {source})",
        hint="the metadata server of a pod that just started may need a few seconds; "
        "retry, or give a longer timeout",
        provider=provider,
        source=source,
    )


# -- identity tokens from the metadata server -----------------------------------------------


class GoogleMetadataProvider:
    """The ``google-workload-identity`` provider: identity tokens from the metadata server.

    Args:
        environ: the environment to read (default :data:`os.environ`, read at each call).
        product_name_file: the DMI product-name file (tests).
    """

    name = "google-workload-identity"

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        product_name_file: str = PRODUCT_NAME_FILE,
    ) -> None:
        self._environ = environ
        self._product_name_file = product_name_file

    def __repr__(self) -> str:
        return "GoogleMetadataProvider()"

    def detect(self) -> Detection:
        """Applies on Google Cloud hardware or with ``GCE_METADATA_HOST`` set (no network)."""
        detection = detect_google_cloud(self._environ, product_name_file=self._product_name_file)
        if detection.applicable:
            mismatch = _host_mismatch(_env(self._environ))
            if mismatch:
                return Detection(True, f"{detection.reason}; but {mismatch}")
        return detection

    def fetch_token(self, audience: str, *, timeout: float) -> IdentityToken:
        """Ask the metadata server for an identity token with ``audience``.

        Args:
            audience: the ``aud`` of the token.
            timeout: seconds the whole exchange (with google-auth's retries) may take.

        Raises:
            CredentialNotFoundError: not on Google Cloud.
            CredentialPermissionError: the metadata server refused (HTTP 401/403).
            CredentialProviderError: no identity endpoint (HTTP 404, e.g. GKE Workload
                Identity without a Google service account), another error, no answer
                within ``timeout``, or ``GCE_METADATA_HOST`` changed after google-auth read it.
            InvalidIdentityTokenError: the answer is not a valid JWT for ``audience``.
        """
        env = _env(self._environ)
        detection = self.detect()
        if not detection.applicable:
            raise CredentialNotFoundError(detection.reason, provider=self.name)
        mismatch = _host_mismatch(env)
        source = f"http://{metadata_host(env)}/{_IDENTITY_PATH}"
        if mismatch:
            raise CredentialProviderError(
                f"cannot use the metadata server: {mismatch}",
                hint="set GCE_METADATA_HOST before google-auth or imagesig's Google support "
                "is first used (or run in a fresh process)",
                provider=self.name,
                source=source,
            )
        from google.auth import compute_engine  # noqa: PLC0415 - heavy, only when used
        from google.auth import exceptions as google_exceptions  # noqa: PLC0415

        request = _DeadlineRequest(time.monotonic() + timeout)
        make_credentials: Any = compute_engine.IDTokenCredentials
        credentials: Any = None
        try:
            credentials = make_credentials(
                request, target_audience=audience, use_metadata_identity_endpoint=True
            )
            credentials.refresh(request)
        except _DeadlineExceededError:
            raise _deadline_error(
                "fetching an identity token from the metadata server", self.name, source, timeout
            ) from None
        except google_exceptions.MalformedError as exc:
            # google-auth decodes the answer to learn its expiry; garbage fails there.
            raise InvalidIdentityTokenError(
                f"the metadata server at {source} answered with something that is not a JWT",
                provider=self.name,
                source=source,
            ) from exc
        except google_exceptions.GoogleAuthError as exc:
            account = getattr(credentials, "service_account_email", None)
            raise _error_for(
                exc,
                what="an identity token request",
                provider=self.name,
                source=source,
                service_account=account,
                permission_hint=_WORKLOAD_IDENTITY_HINT,
                not_found_hint=_NO_IDENTITY_HINT,
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:
            # google-auth decodes the answer to learn its expiry; garbage fails there.
            raise InvalidIdentityTokenError(
                f"the metadata server at {source} answered with something that is not a JWT",
                provider=self.name,
                source=source,
            ) from exc
        _log.debug(
            "credentials: %s: identity token for %s from %s",
            self.name,
            credentials.service_account_email,
            source,
        )
        return IdentityToken.parse(
            credentials.token, audience=audience, provider=self.name, source=source
        )


# -- impersonation --------------------------------------------------------------------------


class GoogleImpersonationProvider:
    """The ``google-impersonate`` provider: identity tokens for ``GOOGLE_SERVICE_ACCOUNT_NAME``.

    The caller's Application Default Credentials need
    ``roles/iam.serviceAccountOpenIdTokenCreator`` on the target service account.

    Args:
        environ: the environment to read (default :data:`os.environ`, read at each call).
    """

    name = "google-impersonate"

    def __init__(self, *, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    def __repr__(self) -> str:
        return "GoogleImpersonationProvider()"

    def detect(self) -> Detection:
        """Applies when ``GOOGLE_SERVICE_ACCOUNT_NAME`` is set (no network)."""
        account = _env(self._environ).get(SERVICE_ACCOUNT_VARIABLE)
        if account:
            return Detection(True, f"{SERVICE_ACCOUNT_VARIABLE}={account}")
        return Detection(False, f"{SERVICE_ACCOUNT_VARIABLE} is not set")

    def fetch_token(self, audience: str, *, timeout: float) -> IdentityToken:
        """Ask IAM Credentials for an identity token of the target service account.

        Args:
            audience: the ``aud`` of the token.
            timeout: seconds for obtaining the source credentials (google-auth's request to
                IAM itself has its own, longer limit).

        Raises:
            CredentialNotFoundError: ``GOOGLE_SERVICE_ACCOUNT_NAME`` is not set.
            CredentialPermissionError: IAM or the metadata server refused.
            CredentialProviderError: no Application Default Credentials, or another failure.
            InvalidIdentityTokenError: the answer is not a valid JWT for ``audience``.
        """
        env = _env(self._environ)
        target = env.get(SERVICE_ACCOUNT_VARIABLE)
        if not target:
            raise CredentialNotFoundError(
                f"{SERVICE_ACCOUNT_VARIABLE} is not set", provider=self.name
            )
        source = f"IAM Credentials generateIdToken for {target}"
        from google.auth import exceptions as google_exceptions  # noqa: PLC0415
        from google.auth import impersonated_credentials  # noqa: PLC0415

        deadline = time.monotonic() + timeout
        try:
            base, _ = google_default_credentials(
                (CLOUD_PLATFORM_SCOPE,),
                refresh=True,
                timeout=timeout,
                environ=env,
                provider=self.name,
            )
        except CredentialNotFoundError as exc:
            # The provider applies (the variable is set); what it needs is missing.
            raise CredentialProviderError(
                f"cannot impersonate {target}: {exc.message}",
                hint=exc.hint,
                provider=self.name,
                service_account=target,
            ) from exc
        request = _DeadlineRequest(deadline)
        impersonated: Any = impersonated_credentials
        credentials: Any = None
        try:
            target_credentials = impersonated.Credentials(
                source_credentials=base,
                target_principal=target,
                target_scopes=[CLOUD_PLATFORM_SCOPE],
            )
            credentials = impersonated.IDTokenCredentials(
                target_credentials, target_audience=audience, include_email=True
            )
            credentials.refresh(request)
        except _DeadlineExceededError:
            raise _deadline_error("impersonating " + target, self.name, source, timeout) from None
        except google_exceptions.MalformedError as exc:
            raise InvalidIdentityTokenError(
                f"IAM answered with something that is not a JWT ({source})",
                provider=self.name,
                source=source,
            ) from exc
        except google_exceptions.GoogleAuthError as exc:
            error = _error_for(
                exc,
                what="an identity token request",
                provider=self.name,
                source=source,
                service_account=target,
                permission_hint=(
                    f"grant roles/iam.serviceAccountOpenIdTokenCreator on {target} to the "
                    "identity imagesig runs as"
                ),
            )
            if _http_status(exc) is None and _mentions_permission(exc):
                error = CredentialPermissionError(
                    f"IAM refused an identity token for {target}",
                    hint=error.hint
                    or f"grant roles/iam.serviceAccountOpenIdTokenCreator on {target} to the "
                    "identity imagesig runs as",
                    provider=self.name,
                    source=source,
                    service_account=target,
                )
            raise error from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidIdentityTokenError(
                f"IAM answered with something that is not a JWT ({source})",
                provider=self.name,
                source=source,
            ) from exc
        return IdentityToken.parse(
            credentials.token, audience=audience, provider=self.name, source=source
        )


def _mentions_permission(exc: BaseException) -> bool:
    text = str(exc)
    return "PERMISSION_DENIED" in text or "'code': 403" in text or "'code': 401" in text


# -- access tokens (Cloud KMS, registries) --------------------------------------------------


def _adc_file(env: Mapping[str, str]) -> Path | None:
    """gcloud's application-default credentials file, if it exists."""
    config = env.get("CLOUDSDK_CONFIG")
    if config:
        directory = Path(config)
    elif os.name == "nt":
        appdata = env.get("APPDATA")
        if not appdata:
            return None
        directory = Path(appdata, "gcloud")
    else:
        home = env.get("HOME")
        if not home:
            return None
        directory = Path(home, ".config", "gcloud")
    path = directory / "application_default_credentials.json"
    return path if path.is_file() else None


def detect_application_default_credentials(
    environ: Mapping[str, str] | None = None, *, product_name_file: str = PRODUCT_NAME_FILE
) -> Detection:
    """Say whether google-auth is likely to find Application Default Credentials (no network).

    Args:
        environ: the environment to read (default :data:`os.environ`).
        product_name_file: the DMI product-name file (tests).
    """
    env = _env(environ)
    if env.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return Detection(
            True, f"GOOGLE_APPLICATION_CREDENTIALS={env['GOOGLE_APPLICATION_CREDENTIALS']}"
        )
    adc = _adc_file(env)
    if adc is not None:
        return Detection(True, f"{adc} exists")
    return detect_google_cloud(env, product_name_file=product_name_file)


def google_default_credentials(
    scopes: Sequence[str] = (CLOUD_PLATFORM_SCOPE,),
    *,
    refresh: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
    provider: str = "google-adc",
) -> tuple[Any, str | None]:
    """Return google-auth Application Default Credentials, refreshed, with errors explained.

    Refreshing before the first API call matters for gRPC clients such as Cloud KMS: a
    refresh failure inside a call surfaces as ``UNAVAILABLE`` and is retried for a minute,
    losing the reason. Here a refused refresh becomes a
    :class:`~imagesig.errors.CredentialPermissionError` naming the metadata server and the
    service account.

    Args:
        scopes: OAuth2 scopes (default cloud-platform).
        refresh: obtain an access token now.
        timeout: seconds finding and refreshing may take.
        environ: the environment for the cheap pre-check (google-auth itself reads
            :data:`os.environ`).
        provider: the name put on errors.

    Returns:
        ``(credentials, project_id)`` as :func:`google.auth.default` returns them.

    Raises:
        CredentialNotFoundError: no Application Default Credentials here (checked without
            the network when nothing points to Google).
        CredentialPermissionError: the token source refused (HTTP 401/403).
        CredentialProviderError: anything else failed, or took longer than ``timeout``.

    Example:
        >>> credentials, project = google_default_credentials()              # doctest: +SKIP
        >>> KeyManagementServiceClient(credentials=credentials)             # doctest: +SKIP
    """
    env = _env(environ)
    detection = detect_application_default_credentials(env)
    if not detection.applicable:
        raise CredentialNotFoundError(
            f"no Google Application Default Credentials: {detection.reason}",
            hint=_ADC_HINT,
            provider=provider,
        )
    import google.auth  # noqa: PLC0415 - heavy, only when used
    from google.auth import exceptions as google_exceptions  # noqa: PLC0415

    source = _credentials_source(env)
    request: Any = _DeadlineRequest(time.monotonic() + timeout)
    find_default: Any = google.auth.default
    credentials: Any = None
    try:
        credentials, project = find_default(scopes=list(scopes), request=request)
        if refresh:
            credentials.refresh(request)
    except _DeadlineExceededError:
        raise _deadline_error(
            "obtaining a Google access token", provider, source, timeout
        ) from None
    except google_exceptions.DefaultCredentialsError as exc:
        raise CredentialNotFoundError(
            f"no usable Google Application Default Credentials ({detection.reason})",
            hint=_ADC_HINT,
            provider=provider,
            source=source,
        ) from exc
    except google_exceptions.GoogleAuthError as exc:
        raise _error_for(
            exc,
            what="an access token request",
            provider=provider,
            source=source,
            service_account=_account_of(credentials),
            permission_hint=_WORKLOAD_IDENTITY_HINT,
        ) from exc
    return credentials, project


def _credentials_source(env: Mapping[str, str]) -> str:
    if env.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return str(env["GOOGLE_APPLICATION_CREDENTIALS"])
    adc = _adc_file(env)
    if adc is not None:
        return str(adc)
    return f"http://{metadata_host(env)}/{_TOKEN_PATH}"


def _account_of(credentials: Any) -> str | None:
    account = getattr(credentials, "service_account_email", None)
    return account if isinstance(account, str) else None


class GoogleAccessTokenSource:
    """OAuth2 access tokens from Application Default Credentials, refreshed when needed.

    Cheap when there is nothing to find: without ``GOOGLE_APPLICATION_CREDENTIALS``, a gcloud
    application-default credentials file or a sign of Google Cloud, :meth:`token` returns
    ``None`` without importing google-auth or touching the network.

    Args:
        scopes: OAuth2 scopes (default cloud-platform).
        credentials: google-auth credentials to use instead of looking for them.
        environ: the environment for the cheap check (default :data:`os.environ`).
        timeout: seconds one refresh may take.
    """

    def __init__(
        self,
        scopes: Sequence[str] = (CLOUD_PLATFORM_SCOPE,),
        *,
        credentials: Any = None,
        environ: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.scopes = tuple(scopes)
        self._credentials = credentials
        self._environ = environ
        self.timeout = timeout
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GoogleAccessTokenSource(scopes={self.scopes!r})"

    def detect(self) -> Detection:
        """Say whether Application Default Credentials are likely here (no network)."""
        if self._credentials is not None:
            return Detection(True, "credentials were given")
        return detect_application_default_credentials(self._environ)

    def token(self) -> str | None:
        """Return a valid access token, or ``None`` when no Google credentials are here.

        Raises:
            CredentialPermissionError: the token source refused (HTTP 401/403).
            CredentialProviderError: credentials are configured but broken, or refreshing
                failed or timed out.
        """
        detection = self.detect()
        if not detection.applicable:
            _log.debug("credentials: no Google access token: %s", detection.reason)
            return None
        with self._lock:
            if self._credentials is None:
                try:
                    self._credentials, _ = google_default_credentials(
                        self.scopes, refresh=False, timeout=self.timeout, environ=self._environ
                    )
                except CredentialNotFoundError as exc:
                    env = _env(self._environ)
                    if env.get("GOOGLE_APPLICATION_CREDENTIALS") or _adc_file(env):
                        # Configured but unusable: say so rather than go anonymous.
                        raise CredentialProviderError(
                            exc.message, hint=exc.hint, **dict(exc.context)
                        ) from exc
                    _log.debug("credentials: no Google access token: %s", exc.message)
                    return None
            credentials = self._credentials
            if not credentials.valid:
                self._refresh(credentials)
            token = credentials.token
        return token if isinstance(token, str) and token else None

    def _refresh(self, credentials: Any) -> None:
        from google.auth import exceptions as google_exceptions  # noqa: PLC0415

        env = _env(self._environ)
        source = _credentials_source(env)
        request = _DeadlineRequest(time.monotonic() + self.timeout)
        try:
            credentials.refresh(request)
        except _DeadlineExceededError:
            raise _deadline_error(
                "refreshing a Google access token", "google-adc", source, self.timeout
            ) from None
        except google_exceptions.GoogleAuthError as exc:
            raise _error_for(
                exc,
                what="an access token request",
                provider="google-adc",
                source=source,
                service_account=_account_of(credentials),
                permission_hint=_WORKLOAD_IDENTITY_HINT,
            ) from exc
