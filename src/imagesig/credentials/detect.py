"""Which ambient credential applies here: the provider order, plugins and the detection report.

The built-in providers are asked in this order (cosign's registered names, so that names
given to ``--oidc-provider`` mean the same thing):

1. ``github-actions`` — GitHub Actions' OIDC endpoint (cosign asks GitHub first so that a
   self-hosted runner on a cloud VM signs as the workflow, not as the VM);
2. ``envvar`` — ``SIGSTORE_ID_TOKEN`` (GitLab CI ``id_tokens``, anything that exports one);
3. ``filesystem`` — ``/var/run/sigstore/cosign/oidc-token`` (a projected Kubernetes token);
4. ``google-impersonate`` — ``GOOGLE_SERVICE_ACCOUNT_NAME`` through IAM Credentials;
5. ``google-workload-identity`` — the metadata server (GCE, GKE Workload Identity);
6. ``spiffe`` — a SPIFFE Workload API socket;

then providers added with :func:`register_provider`, then those of installed packages
(entry-point group ``imagesig.credential_providers``, sorted by name). cosign asks
``google-workload-identity`` before ``google-impersonate``; here setting
``GOOGLE_SERVICE_ACCOUNT_NAME`` is taken as the explicit request it is.

:func:`detect_credential` runs every provider's cheap check, then asks the applicable ones in
order and returns the first token. A provider that applies but fails is logged and the next
one is asked (as cosign does); if none delivers, the first failure is raised. Nothing
applicable is not an error: the result is ``None``. :func:`detection_report` does the same
and says, for every provider, why it was used, skipped or failed.

An entry point's value is a :class:`~imagesig.credentials.CredentialProvider` instance, or a
class or function that makes one when called without arguments. Its name must equal the
provider's ``name`` and may not be the name of a provider already known; a plugin that
cannot be loaded is reported as failed, never silently dropped.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from imagesig.credentials.base import (
    DEFAULT_AUDIENCE,
    DEFAULT_TIMEOUT,
    CredentialProvider,
    Detection,
    IdentityToken,
)
from imagesig.errors import CredentialError, CredentialNotFoundError, CredentialProviderError

__all__ = [
    "ENTRY_POINT_GROUP",
    "DetectionReport",
    "ProviderReport",
    "ProviderStatus",
    "default_providers",
    "detect_credential",
    "detection_report",
    "get_provider",
    "register_provider",
    "reset_providers",
]

_log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "imagesig.credential_providers"
"""Entry-point group third-party packages register credential providers in."""


class ProviderStatus(enum.Enum):
    """What happened to one provider during detection."""

    USED = "used"
    """It applied and its token was returned."""
    FAILED = "failed"
    """It applied but could not deliver (the error is on the report row)."""
    AVAILABLE = "available"
    """It applies but was not asked: an earlier provider was used, or nothing was fetched."""
    SKIPPED = "skipped"
    """Its environment is not here."""


@attrs.frozen
class ProviderReport:
    """One row of a :class:`DetectionReport`.

    Attributes:
        provider: the provider's name.
        status: used, failed, available or skipped.
        reason: why, in one sentence (never a token).
        error: the error when ``status`` is ``FAILED``.
        token: the token when ``status`` is ``USED`` (shown only as its claims).
        seconds: time spent on this provider (detection and fetching).
    """

    provider: str
    status: ProviderStatus
    reason: str
    error: CredentialError | None = attrs.field(default=None, eq=False)
    token: IdentityToken | None = None
    seconds: float = attrs.field(default=0.0, eq=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the row as JSON-ready data; the token appears only as its claims."""
        data: dict[str, Any] = {
            "provider": self.provider,
            "status": self.status.value,
            "reason": self.reason,
            "seconds": round(self.seconds, 6),
        }
        if self.error is not None:
            data["error"] = {
                "type": type(self.error).__name__,
                "message": self.error.message,
                "hint": self.error.hint,
            }
        if self.token is not None:
            data["identity"] = self.token.to_dict()
        return data


@attrs.frozen
class DetectionReport:
    """For every provider, in order, whether it was used and why (or why not).

    Attributes:
        audience: the audience tokens were asked for.
        rows: one :class:`ProviderReport` per provider, in the order they are asked.
        token: the token found, or ``None``.
    """

    audience: str
    rows: tuple[ProviderReport, ...]
    token: IdentityToken | None = None

    @property
    def used(self) -> ProviderReport | None:
        """The row of the provider whose token was returned, if any."""
        return next((row for row in self.rows if row.status is ProviderStatus.USED), None)

    @property
    def failures(self) -> tuple[ProviderReport, ...]:
        """Rows of providers that applied but failed, in order."""
        return tuple(row for row in self.rows if row.status is ProviderStatus.FAILED)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (no token, only its claims)."""
        used = self.used
        return {
            "audience": self.audience,
            "provider": used.provider if used else None,
            "identity": self.token.to_dict() if self.token else None,
            "providers": [row.to_dict() for row in self.rows],
        }

    def __str__(self) -> str:
        width = max((len(row.provider) for row in self.rows), default=0)
        lines = [f"ambient credentials for audience {self.audience!r}:"]
        for row in self.rows:
            lines.append(f"  {row.provider:<{width}}  {row.status.value:<9}  {row.reason}")
            if row.error is not None and row.error.hint:
                lines.append(f"  {'':<{width}}  {'':<9}  hint: {row.error.hint}")
        if self.token is None:
            lines.append("no identity token found")
        else:
            lines.append(
                f"identity: issuer {self.token.issuer!r}, subject {self.token.subject!r}, "
                f"expires {self.token.expiry.isoformat()}"
            )
        return "\n".join(lines)


# -- the provider registry ------------------------------------------------------------------


class _Registry:
    """Providers added at run time, and the entry-point plugins once loaded."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.registered: list[CredentialProvider] = []
        self.builtins: list[CredentialProvider] | None = None
        self.plugins: list[CredentialProvider | _BrokenPlugin] | None = None


@attrs.frozen
class _BrokenPlugin:
    """An entry point that could not be turned into a provider; reported as failed."""

    name: str
    problem: str


_REGISTRY = _Registry()


def _builtin_providers() -> list[CredentialProvider]:
    # Imported here: each provider module imports this package's base module, and the
    # heavy libraries they use are imported only when a token is actually fetched.
    from imagesig.credentials.filesystem import (  # noqa: PLC0415
        EnvironmentTokenProvider,
        FileTokenProvider,
    )
    from imagesig.credentials.github import GitHubActionsProvider  # noqa: PLC0415
    from imagesig.credentials.google import (  # noqa: PLC0415
        GoogleImpersonationProvider,
        GoogleMetadataProvider,
    )
    from imagesig.credentials.spiffe import SpiffeProvider  # noqa: PLC0415

    return [
        GitHubActionsProvider(),
        EnvironmentTokenProvider(),
        FileTokenProvider(),
        GoogleImpersonationProvider(),
        GoogleMetadataProvider(),
        SpiffeProvider(),
    ]


_BUILTIN_NAMES = (
    "github-actions",
    "envvar",
    "filesystem",
    "google-impersonate",
    "google-workload-identity",
    "spiffe",
)


def _load_plugins(taken: set[str]) -> list[CredentialProvider | _BrokenPlugin]:
    from importlib.metadata import entry_points  # noqa: PLC0415 - only when detecting

    loaded: list[CredentialProvider | _BrokenPlugin] = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if entry.name in taken:
            _log.warning(
                "credentials: ignoring entry point %r (%s): a provider with that name exists",
                entry.name,
                entry.value,
            )
            continue
        taken.add(entry.name)
        try:
            target = entry.load()
            provider = target() if callable(target) and not _is_provider(target) else target
        except Exception as exc:  # a plugin's import or constructor failing must not hide others
            _log.warning("credentials: cannot load provider plugin %r: %s", entry.name, exc)
            loaded.append(_BrokenPlugin(entry.name, f"cannot be loaded: {type(exc).__name__}"))
            continue
        if not _is_provider(provider):
            loaded.append(_BrokenPlugin(entry.name, "is not a credential provider"))
        elif provider.name != entry.name:
            loaded.append(
                _BrokenPlugin(entry.name, f"names itself {provider.name!r}, not {entry.name!r}")
            )
        else:
            loaded.append(provider)
    return loaded


def _is_provider(value: object) -> bool:
    return (
        not isinstance(value, type)
        and isinstance(getattr(value, "name", None), str)
        and callable(getattr(value, "detect", None))
        and callable(getattr(value, "fetch_token", None))
    )


def _all_providers() -> list[CredentialProvider | _BrokenPlugin]:
    with _REGISTRY.lock:
        registered = list(_REGISTRY.registered)
        builtins = _REGISTRY.builtins
        plugins = _REGISTRY.plugins
    if builtins is None:
        builtins = _builtin_providers()
        with _REGISTRY.lock:
            if _REGISTRY.builtins is None:
                _REGISTRY.builtins = builtins
            builtins = _REGISTRY.builtins
    if plugins is None:
        taken = set(_BUILTIN_NAMES) | {provider.name for provider in registered}
        plugins = _load_plugins(taken)
        with _REGISTRY.lock:
            if _REGISTRY.plugins is None:
                _REGISTRY.plugins = plugins
            plugins = _REGISTRY.plugins
    # A registered provider with a built-in's name replaces it in place.
    by_name = {provider.name: provider for provider in registered}
    ordered: list[CredentialProvider | _BrokenPlugin] = [
        by_name.get(provider.name, provider) for provider in builtins
    ]
    ordered.extend(p for p in registered if p.name not in _BUILTIN_NAMES)
    taken = {entry.name for entry in ordered}
    ordered.extend(p for p in plugins if p.name not in taken)
    return ordered


def default_providers() -> list[CredentialProvider]:
    """Return the providers :func:`detect_credential` asks, in order.

    Built-ins first, then those added with :func:`register_provider`, then entry-point
    plugins (loaded on the first call; plugins that fail to load are left out here and shown
    as failed by :func:`detection_report`).
    """
    return [p for p in _all_providers() if not isinstance(p, _BrokenPlugin)]


def get_provider(name: str) -> CredentialProvider:
    """Return the provider called ``name`` (for ``--oidc-provider NAME``).

    Args:
        name: a provider name such as ``"github-actions"`` or ``"spiffe"``.

    Raises:
        CredentialNotFoundError: no provider has that name (the message lists the names).
        CredentialProviderError: that plugin could not be loaded.
    """
    providers = _all_providers()
    for provider in providers:
        if provider.name == name:
            if isinstance(provider, _BrokenPlugin):
                raise CredentialProviderError(
                    f"credential provider plugin {name!r} {provider.problem}", provider=name
                )
            return provider
    known = ", ".join(provider.name for provider in providers)
    raise CredentialNotFoundError(
        f"there is no credential provider named {name!r}",
        hint=f"known providers: {known}",
        provider=name,
    )


class _Registration(contextlib.AbstractContextManager[None]):
    """Returned by :func:`register_provider`; leaving the ``with`` block undoes it."""

    def __init__(self, provider: CredentialProvider, replaced: CredentialProvider | None) -> None:
        self._provider = provider
        self._replaced = replaced

    def __exit__(self, *exc_info: object) -> None:
        with _REGISTRY.lock:
            registered = _REGISTRY.registered
            if self._provider in registered:
                index = registered.index(self._provider)
                if self._replaced is not None:
                    registered[index] = self._replaced
                else:
                    del registered[index]


def register_provider(
    provider: CredentialProvider, *, replace: bool = False
) -> contextlib.AbstractContextManager[None]:
    """Add a credential provider, asked after the built-ins and earlier registrations.

    A provider with a built-in's name replaces that built-in in place (only with
    ``replace=True``).

    Args:
        provider: the provider.
        replace: allow replacing a provider of the same name.

    Returns:
        A context manager; leaving its ``with`` block undoes the registration (handy in
        tests and notebooks). Without ``with`` the registration simply stays.

    Raises:
        ValueError: a provider of that name exists and ``replace`` is false.
        TypeError: ``provider`` does not look like a credential provider.

    Example:
        >>> with register_provider(MyProvider()):                        # doctest: +SKIP
        ...     token = detect_credential()
    """
    if not _is_provider(provider):
        raise TypeError("register_provider: expected an object with name, detect, fetch_token")
    name = provider.name
    with _REGISTRY.lock:
        registered = _REGISTRY.registered
        plugins = _REGISTRY.plugins or []
        existing = next((p for p in registered if p.name == name), None)
        clash = (
            existing is not None
            or name in _BUILTIN_NAMES
            or any(plugin.name == name for plugin in plugins)
        )
        if clash and not replace:
            raise ValueError(
                f"a credential provider named {name!r} exists; pass replace=True to replace it"
            )
        if existing is not None:
            registered[registered.index(existing)] = provider
        else:
            registered.append(provider)
    return _Registration(provider, existing)


def reset_providers() -> None:
    """Forget registered providers, loaded plugins and the built-ins' cached tokens."""
    with _REGISTRY.lock:
        _REGISTRY.registered.clear()
        _REGISTRY.builtins = None
        _REGISTRY.plugins = None


# -- detection ------------------------------------------------------------------------------


def _detect(provider: CredentialProvider) -> Detection | CredentialError:
    try:
        outcome = provider.detect()
    except Exception as exc:  # a plugin's detect() failing is reported, not fatal
        _log.warning("credentials: %s: detection failed: %s", provider.name, type(exc).__name__)
        error = CredentialProviderError(
            f"credential provider {provider.name!r} failed to detect its environment "
            f"({type(exc).__name__})",
            provider=provider.name,
        )
        error.__cause__ = exc
        return error
    if isinstance(outcome, Detection):
        return outcome
    return Detection(bool(outcome), "detected" if outcome else "not detected")


def _fetch(provider: CredentialProvider, audience: str, timeout: float) -> IdentityToken:
    try:
        candidate = provider.fetch_token(audience, timeout=timeout)
    except CredentialError:
        raise
    except Exception as exc:  # a plugin's bug must not end detection for everyone
        raise CredentialProviderError(
            f"credential provider {provider.name!r} failed ({type(exc).__name__})",
            provider=provider.name,
        ) from exc
    if not isinstance(candidate, IdentityToken):
        raise CredentialProviderError(
            f"credential provider {provider.name!r} returned "
            f"{type(candidate).__name__}, not an IdentityToken",
            provider=provider.name,
        )
    return candidate


def _run(
    audience: str,
    providers: Sequence[CredentialProvider | _BrokenPlugin],
    *,
    fetch: bool,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> DetectionReport:
    deadline = clock() + timeout
    rows: list[ProviderReport] = []
    token: IdentityToken | None = None
    for provider in providers:
        started = clock()
        if isinstance(provider, _BrokenPlugin):
            error = CredentialProviderError(
                f"credential provider plugin {provider.name!r} {provider.problem}",
                provider=provider.name,
            )
            rows.append(
                ProviderReport(provider.name, ProviderStatus.FAILED, error.message, error=error)
            )
            continue
        detection = _detect(provider)
        if isinstance(detection, CredentialError):
            rows.append(
                ProviderReport(
                    provider.name,
                    ProviderStatus.FAILED,
                    detection.message,
                    error=detection,
                    seconds=clock() - started,
                )
            )
            continue
        if not detection.applicable:
            _log.debug("credentials: %s: skipped: %s", provider.name, detection.reason)
            rows.append(
                ProviderReport(
                    provider.name,
                    ProviderStatus.SKIPPED,
                    detection.reason,
                    seconds=clock() - started,
                )
            )
            continue
        if token is not None or not fetch:
            why = "applies; not asked" + (" (an earlier provider was used)" if token else "")
            rows.append(
                ProviderReport(
                    provider.name,
                    ProviderStatus.AVAILABLE,
                    f"{detection.reason}; {why}",
                    seconds=clock() - started,
                )
            )
            continue
        _log.debug("credentials: %s: applies (%s); fetching", provider.name, detection.reason)
        remaining = deadline - clock()
        try:
            if remaining <= 0:
                raise CredentialProviderError(
                    f"no time left to ask {provider.name} (the detection took over {timeout:g} s)",
                    provider=provider.name,
                )
            candidate = _fetch(provider, audience, remaining)
        except CredentialError as exc:
            _log.warning("credentials: %s applies but failed: %s", provider.name, exc.message)
            rows.append(
                ProviderReport(
                    provider.name,
                    ProviderStatus.FAILED,
                    f"{detection.reason}; failed: {exc.message}",
                    error=exc,
                    seconds=clock() - started,
                )
            )
            continue
        token = candidate
        _log.debug("credentials: %s: using its token (%r)", provider.name, token)
        rows.append(
            ProviderReport(
                provider.name,
                ProviderStatus.USED,
                detection.reason,
                token=token,
                seconds=clock() - started,
            )
        )
    return DetectionReport(audience=audience, rows=tuple(rows), token=token)


def detection_report(
    audience: str = DEFAULT_AUDIENCE,
    *,
    providers: Iterable[CredentialProvider] | None = None,
    fetch: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> DetectionReport:
    """Say, for every provider, whether it applies here and what came of asking it.

    Args:
        audience: the audience to ask tokens for.
        providers: the providers to consider, in order (default: :func:`default_providers`
            plus plugins that failed to load).
        fetch: ask applicable providers for a token (in order, until one delivers). With
            ``False`` only the cheap checks run: no network, no token.
        timeout: seconds all fetching together may take.

    Returns:
        The report; its ``token`` is the token :func:`detect_credential` would return.
        Provider errors are recorded on the rows, not raised.
    """
    chosen = _all_providers() if providers is None else list(providers)
    return _run(audience, chosen, fetch=fetch, timeout=timeout)


def detect_credential(
    audience: str = DEFAULT_AUDIENCE,
    *,
    providers: Iterable[CredentialProvider] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> IdentityToken | None:
    """Find an ambient identity token for ``audience``, as cosign does.

    Args:
        audience: the token's audience (cosign and Fulcio use ``"sigstore"``).
        providers: the providers to ask, in order (default: :func:`default_providers`).
        timeout: seconds all providers together may take.

    Returns:
        The first token an applicable provider delivers, or ``None`` when no provider
        applies here.

    Raises:
        CredentialError: providers applied but none delivered; the error of the first one
            (the most preferred) is raised, the others are logged. See
            :func:`detection_report` for all of them.

    Example:
        >>> token = detect_credential()                                  # doctest: +SKIP
        >>> token.subject if token else "no ambient identity"            # doctest: +SKIP
    """
    report = detection_report(audience, providers=providers, timeout=timeout)
    if report.token is not None:
        return report.token
    failures = report.failures
    if failures:
        error = failures[0].error
        assert error is not None
        raise error
    return None
