"""Signer references: turn a key path or URI into a signer or a verifier.

Wherever imagesig takes a key it takes a string, as cosign's ``--key`` does:

| reference | meaning |
|---|---|
| ``cosign.key``, ``/keys/cosign.pub`` | a key file (any format :mod:`.local` reads) |
| ``file:///keys/cosign.key`` | the same, as a URI |
| ``env://COSIGN_PRIVATE_KEY`` | PEM text (a cosign key, PKCS#8...) in a variable |
| ``gcpkms://projects/P/…/cryptoKeys/K/cryptoKeyVersions/V`` | a Cloud KMS key (:mod:`.gcpkms`) |
| ``awskms://``, ``azurekms://``, ``hashivault://``, ``k8s://``... | needs a plugin |
| ``NAME://…`` | needs a plugin |

The first four are built in (Cloud KMS also takes ``…/versions/V`` and
``gcpkms:projects/…``). cosign's other references (``awskms``, ``azurekms``,
``hashivault``, ``openbao``, ``k8s``, ``gitlab``, ``pkcs11:``) and any other scheme need a
plugin.

A reference whose scheme no provider handles raises :class:`UnknownSignerSchemeError`
("no provider installed for scheme 'awskms'; install a plugin").

**Providers.** A provider is a *factory*: a callable taking the reference (the whole string,
scheme included) and keyword options, returning a :class:`~imagesig.signers.Signer`. The
options are those given to :func:`signer_from_uri` (``password=``, ``algorithm=``,
``client=``...); options whose value is ``None`` are not passed on, so callers can forward
optional settings without knowing which provider will get them. A factory should not do
network I/O: connect on first use. A :class:`SignerProvider` bundles a factory with optional
async and verify-only factories, for providers that have an async client or can verify
without access to the private key.

**Registration.** Two ways, same rules:

* the entry-point group ``imagesig.signers`` (see :data:`ENTRY_POINT_GROUP`), entry-point
  name = scheme, value = a factory or a :class:`SignerProvider`. Entry points are looked
  at only when a reference names a scheme that is not registered yet, and then only the
  entry point of that scheme is imported; so a plugin cannot take over a built-in scheme
  and an installed plugin costs nothing until its scheme is used.
* :func:`register_signer` at run time, for applications, notebooks and tests. It refuses a
  scheme that is already registered unless ``replace=True``, and it returns a handle that
  works as a context manager undoing the registration.

The registry is the only global state here; :func:`reset_signer_registry` puts it back to
the built-in providers.

Example::

    from imagesig.signers import register_signer, signer_from_uri

    signer = signer_from_uri("gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/versions/1")

    with register_signer("vault", VaultSigner):       # undone at the end of the block
        signer = signer_from_uri("vault://transit/cosign")
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Awaitable, Callable
from importlib import metadata
from types import TracebackType
from typing import Any, TypeAlias

import attrs

from imagesig.errors import SignerError, UnknownSignerSchemeError, redact_url
from imagesig.signers.base import (
    AsyncSigner,
    PublicKey,
    Signer,
    Verifier,
    as_async_signer,
)
from imagesig.signers.local import LocalSigner

__all__ = [
    "BUILTIN_SCHEMES",
    "COSIGN_PLUGIN_SCHEMES",
    "ENTRY_POINT_GROUP",
    "AsyncSignerFactory",
    "AsyncVerifierFactory",
    "SignerFactory",
    "SignerProvider",
    "SignerRegistration",
    "VerifierFactory",
    "async_signer_from_uri",
    "async_verifier_from_uri",
    "register_signer",
    "registered_schemes",
    "reset_signer_registry",
    "signer_from_uri",
    "signer_scheme",
    "unregister_signer",
    "verifier_from_uri",
]

#: The entry-point group plugins register their schemes in (name = scheme).
ENTRY_POINT_GROUP = "imagesig.signers"

#: Schemes imagesig handles itself ("file" also covers plain paths).
BUILTIN_SCHEMES = ("env", "file", "gcpkms")

#: Key-reference schemes cosign knows that need a plugin here.
COSIGN_PLUGIN_SCHEMES = frozenset(
    {"awskms", "azurekms", "hashivault", "openbao", "k8s", "gitlab", "pkcs11"}
)

#: ``factory(reference, **options) -> Signer``.
SignerFactory: TypeAlias = Callable[..., Signer]
#: ``factory(reference, **options) -> AsyncSigner``.
AsyncSignerFactory: TypeAlias = Callable[..., AsyncSigner]
#: ``factory(reference, **options) -> Verifier``.
VerifierFactory: TypeAlias = Callable[..., Verifier]
#: ``async factory(reference, **options) -> Verifier``.
AsyncVerifierFactory: TypeAlias = Callable[..., Awaitable[Verifier]]

_log = logging.getLogger(__name__)
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")
_URI = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")
# Schemes whose references may also be written without "//" (cosign's pkcs11:,
# securesystemslib's gcpkms:projects/...).
_OPAQUE = re.compile(r"(gcpkms|pkcs11):(?!//)", re.IGNORECASE)


@attrs.frozen
class SignerProvider:
    """What a scheme resolves to: factories for signers and verifiers.

    Only :attr:`signer` is required; the others fall back to it.

    Attributes:
        signer: ``signer(reference, **options)`` returns a sync
            :class:`~imagesig.signers.Signer`.
        async_signer: returns an :class:`~imagesig.signers.AsyncSigner`; by default the
            sync signer is wrapped by :func:`~imagesig.signers.as_async_signer`, which runs
            its calls in a worker thread.
        verifier: returns a :class:`~imagesig.signers.Verifier` (usually a
            :class:`~imagesig.signers.PublicKey`) without needing the private key; by
            default ``signer(...).public_key()``.
        async_verifier: a coroutine function returning a verifier; by default
            ``await async_signer(...).public_key()`` when :attr:`async_signer` is given,
            else :attr:`verifier` in a worker thread.
        origin: where the provider came from, for messages (``"built in"``,
            ``"entry point examplekeys = pkg.mod:factory (dist 1.0)"``).
    """

    signer: SignerFactory
    async_signer: AsyncSignerFactory | None = None
    verifier: VerifierFactory | None = None
    async_verifier: AsyncVerifierFactory | None = None
    origin: str = "registered at run time"


class SignerRegistration:
    """The handle :func:`register_signer` returns; a context manager that undoes it.

    Attributes:
        scheme: the scheme registered.
        provider: the provider registered.
    """

    def __init__(
        self, scheme: str, provider: SignerProvider, previous: SignerProvider | None
    ) -> None:
        self.scheme = scheme
        self.provider = provider
        self._previous = previous
        self._active = True

    def undo(self) -> None:
        """Remove the registration, restoring what it replaced; a second call does nothing.

        Nothing happens when the scheme has been registered again since.
        """
        with _registry.lock:
            if not self._active:
                return
            self._active = False
            if _registry.providers.get(self.scheme) is not self.provider:
                return
            if self._previous is None:
                del _registry.providers[self.scheme]
            else:
                _registry.providers[self.scheme] = self._previous

    def __enter__(self) -> SignerRegistration:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.undo()

    def __repr__(self) -> str:
        return f"SignerRegistration({self.scheme!r}, active={self._active})"


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.providers: dict[str, SignerProvider] = {}

    def lookup(self, scheme: str, reference: str) -> SignerProvider:
        with self.lock:
            provider = self.providers.get(scheme)
            if provider is None:
                provider = _load_entry_point(scheme)
                if provider is not None:
                    self.providers[scheme] = provider
        if provider is None:
            raise _unknown_scheme(scheme, reference)
        return provider


_registry = _Registry()


def register_signer(
    scheme: str,
    factory: SignerFactory | SignerProvider,
    *,
    replace: bool = False,
) -> SignerRegistration:
    """Make ``scheme://…`` references resolve through ``factory``.

    Args:
        scheme: the URI scheme, e.g. ``"vault"`` (lowercase letters, digits, ``+ . -``;
            compared case-insensitively).
        factory: a signer factory (``factory(reference, **options) -> Signer``) or a
            :class:`SignerProvider`.
        replace: allow replacing a provider already registered for ``scheme`` (including a
            built-in one).

    Returns:
        A handle whose :meth:`~SignerRegistration.undo` (or the end of a ``with`` block)
        removes the registration and restores what it replaced.

    Raises:
        SignerError: ``scheme`` is already registered and ``replace`` is false.
        ValueError: ``scheme`` is not a valid URI scheme.
        TypeError: ``factory`` is neither callable nor a :class:`SignerProvider`.
    """
    name = _check_scheme(scheme)
    provider = _as_provider(factory, "registered at run time")
    with _registry.lock:
        previous = _registry.providers.get(name)
        if previous is not None and not replace:
            raise SignerError(
                f"a signer provider for scheme {name!r} is already registered ({previous.origin})",
                hint="pass replace=True to replace it",
                scheme=name,
            )
        _registry.providers[name] = provider
    _log.debug("registered signer provider for %r", name)
    return SignerRegistration(name, provider, previous)


def unregister_signer(scheme: str) -> None:
    """Remove the provider of ``scheme`` (built-in ones too); unknown schemes are ignored.

    Args:
        scheme: the URI scheme.
    """
    with _registry.lock:
        _registry.providers.pop(scheme.lower(), None)


def registered_schemes(*, include_entry_points: bool = True) -> list[str]:
    """List the schemes that resolve to a provider.

    Args:
        include_entry_points: also list the names in the ``imagesig.signers`` entry-point
            group (read from package metadata; nothing is imported).

    Returns:
        The sorted scheme names.
    """
    with _registry.lock:
        names = set(_registry.providers)
    if include_entry_points:
        names.update(
            entry.name.lower()
            for entry in metadata.entry_points(group=ENTRY_POINT_GROUP)
            if _SCHEME.fullmatch(entry.name.lower())
        )
    return sorted(names)


def reset_signer_registry() -> None:
    """Forget every registered and entry-point provider; keep the built-in ones."""
    with _registry.lock:
        _registry.providers.clear()
        _registry.providers.update(_builtin_providers())


def signer_scheme(reference: str | os.PathLike[str]) -> str | None:
    """Return the scheme of a key reference, lowercase, or ``None`` for a plain path.

    Args:
        reference: a path or URI.

    Returns:
        ``"gcpkms"`` for ``gcpkms://…`` and ``gcpkms:projects/…``, ``"file"`` for
        ``file://…``, ``None`` for ``cosign.key``.
    """
    return _split(reference)[0]


def signer_from_uri(reference: str | os.PathLike[str], **options: Any) -> Signer:
    """Return the signer a key reference names.

    Args:
        reference: a key file path or a URI (see the module notes).
        **options: passed to the provider; ``None`` values are dropped. Built-in ones:
            ``password`` and ``algorithm`` for key files and ``env://``; for ``gcpkms://``
            see :class:`~imagesig.signers.gcpkms.GcpKmsSigner` (``client``,
            ``credentials``, ``endpoint``, ``algorithm``, ``timeout``, ``attempts``).

    Returns:
        A sync signer. KMS and plugin signers connect on first use.

    Raises:
        UnknownSignerSchemeError: no provider handles the reference's scheme.
        SignerError: a plugin failed to load, or returned an async signer (use
            :func:`async_signer_from_uri`); key-file errors as in
            :meth:`LocalSigner.from_file <imagesig.signers.LocalSigner.from_file>`.
        TypeError: an option the provider does not take.
    """
    scheme, text = _split(reference)
    provider = _registry.lookup(scheme or "file", text)
    signer = provider.signer(text, **_given(options))
    if _is_async(signer):
        raise SignerError(
            f"the provider of {_describe(text)} returned an async signer",
            hint="use async_signer_from_uri() (or AsyncClient) with this provider",
            key=_describe(text),
        )
    return signer


def async_signer_from_uri(reference: str | os.PathLike[str], **options: Any) -> AsyncSigner:
    """Return the async signer a key reference names.

    Not a coroutine: making a signer does no I/O (it connects on first use). Providers
    without an async factory get their sync signer wrapped so that its calls run in a
    worker thread; local keys sign inline.

    Args:
        reference: a key file path or a URI.
        **options: as for :func:`signer_from_uri`.

    Returns:
        An async signer.

    Raises:
        UnknownSignerSchemeError: no provider handles the reference's scheme.
        SignerError: a plugin failed to load; key-file errors as for :func:`signer_from_uri`.
        TypeError: an option the provider does not take.
    """
    scheme, text = _split(reference)
    provider = _registry.lookup(scheme or "file", text)
    if provider.async_signer is not None:
        return provider.async_signer(text, **_given(options))
    signer = provider.signer(text, **_given(options))
    return as_async_signer(signer, offload=not isinstance(signer, LocalSigner))


def verifier_from_uri(reference: str | os.PathLike[str], **options: Any) -> Verifier:
    """Return the verifier (usually the :class:`~imagesig.signers.PublicKey`) a reference names.

    Key files and ``env://`` must hold a public key (``cosign.pub``); KMS references fetch
    the public key from the service (for Cloud KMS with ``roles/cloudkms.viewer`` and
    ``roles/cloudkms.verifier``, no signing permission needed).

    Args:
        reference: a public-key file path or a URI.
        **options: passed to the provider; ``None`` values are dropped (built-in key files
            take ``algorithm``).

    Returns:
        A verifier; ``verifier.public_key()`` is the :class:`~imagesig.signers.PublicKey`.

    Raises:
        UnknownSignerSchemeError: no provider handles the reference's scheme.
        KeyFormatError: a key file or variable holds no public key.
        SignerError: the key could not be read or fetched (``KMSError`` subclasses say why).
        TypeError: an option the provider does not take.
    """
    scheme, text = _split(reference)
    provider = _registry.lookup(scheme or "file", text)
    given = _given(options)
    if provider.verifier is not None:
        return provider.verifier(text, **given)
    return provider.signer(text, **given).public_key()


async def async_verifier_from_uri(reference: str | os.PathLike[str], **options: Any) -> Verifier:
    """The async twin of :func:`verifier_from_uri` (fetches KMS keys with the async client).

    Args:
        reference: a public-key file path or a URI.
        **options: as for :func:`verifier_from_uri`.

    Returns:
        A verifier.

    Raises:
        UnknownSignerSchemeError: no provider handles the reference's scheme.
        KeyFormatError: a key file or variable holds no public key.
        SignerError: the key could not be read or fetched.
        TypeError: an option the provider does not take.
    """
    scheme, text = _split(reference)
    provider = _registry.lookup(scheme or "file", text)
    given = _given(options)
    if provider.async_verifier is not None:
        return await provider.async_verifier(text, **given)
    if provider.async_signer is not None:
        return await provider.async_signer(text, **given).public_key()
    import asyncio  # noqa: PLC0415 - loaded already whenever this runs; keeps import light

    return await asyncio.to_thread(verifier_from_uri, text, **given)


# -- built-in providers ----------------------------------------------------------------------


def _file_path(reference: str) -> str:
    return reference[len("file://") :] if reference[:7].lower() == "file://" else reference


def _file_signer(reference: str, **options: Any) -> Signer:
    return LocalSigner.from_file(_file_path(reference), **options)


def _file_verifier(reference: str, **options: Any) -> Verifier:
    return PublicKey.from_file(_file_path(reference), **options)


async def _file_async_verifier(reference: str, **options: Any) -> Verifier:
    return _file_verifier(reference, **options)  # a small local file: read inline


def _file_async_signer(reference: str, **options: Any) -> AsyncSigner:
    return as_async_signer(_file_signer(reference, **options), offload=False)


def _env_value(reference: str) -> str:
    variable = reference[len("env://") :]
    if not variable:
        raise SignerError(
            f"{reference!r} names no environment variable", hint="write env://VARIABLE"
        )
    value = os.environ.get(variable)
    if value is None:
        raise SignerError(
            f"environment variable {variable} is not set (key reference env://{variable})",
            key=f"env://{variable}",
        )
    return value


def _env_signer(reference: str, **options: Any) -> Signer:
    return LocalSigner.from_pem(_env_value(reference), source=reference, **options)


def _env_verifier(reference: str, **options: Any) -> Verifier:
    return PublicKey.from_pem(_env_value(reference), source=reference, **options)


async def _env_async_verifier(reference: str, **options: Any) -> Verifier:
    return _env_verifier(reference, **options)


def _env_async_signer(reference: str, **options: Any) -> AsyncSigner:
    return as_async_signer(_env_signer(reference, **options), offload=False)


def _gcpkms_signer(reference: str, **options: Any) -> Signer:
    from imagesig.signers.gcpkms import GcpKmsSigner  # noqa: PLC0415 - keep google-cloud-kms lazy

    return GcpKmsSigner(reference, **options)


def _gcpkms_async_signer(reference: str, **options: Any) -> AsyncSigner:
    from imagesig.signers.gcpkms import AsyncGcpKmsSigner  # noqa: PLC0415

    return AsyncGcpKmsSigner(reference, **options)


def _gcpkms_verifier(reference: str, **options: Any) -> Verifier:
    from imagesig.signers.gcpkms import fetch_public_key  # noqa: PLC0415

    return fetch_public_key(reference, **options)


async def _gcpkms_async_verifier(reference: str, **options: Any) -> Verifier:
    from imagesig.signers.gcpkms import async_fetch_public_key  # noqa: PLC0415

    return await async_fetch_public_key(reference, **options)


def _builtin_providers() -> dict[str, SignerProvider]:
    return {
        "file": SignerProvider(
            _file_signer, _file_async_signer, _file_verifier, _file_async_verifier, "built in"
        ),
        "env": SignerProvider(
            _env_signer, _env_async_signer, _env_verifier, _env_async_verifier, "built in"
        ),
        "gcpkms": SignerProvider(
            _gcpkms_signer,
            _gcpkms_async_signer,
            _gcpkms_verifier,
            _gcpkms_async_verifier,
            "built in",
        ),
    }


_registry.providers.update(_builtin_providers())


# -- helpers ---------------------------------------------------------------------------------


def _split(reference: str | os.PathLike[str]) -> tuple[str | None, str]:
    text = os.fspath(reference)
    match = _URI.match(text) or _OPAQUE.match(text)
    return (match[1].lower() if match else None), text


def _check_scheme(scheme: str) -> str:
    name = scheme.lower().removesuffix("://").removesuffix(":")
    if not _SCHEME.fullmatch(name):
        raise ValueError(f"{scheme!r} is not a URI scheme (letters, digits, '+', '.', '-')")
    return name


def _as_provider(value: object, origin: str) -> SignerProvider:
    if isinstance(value, SignerProvider):
        return (
            value
            if value.origin != "registered at run time"
            else attrs.evolve(value, origin=origin)
        )
    if callable(value):
        return SignerProvider(signer=value, origin=origin)
    raise TypeError(
        f"a signer provider must be a factory callable or a SignerProvider, "
        f"not {type(value).__name__}"
    )


def _given(options: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if value is not None}


def _is_async(signer: object) -> bool:
    import inspect  # noqa: PLC0415 - only on this path

    return inspect.iscoroutinefunction(getattr(signer, "sign", None))


def _describe(reference: str) -> str:
    return redact_url(reference) if "://" in reference else reference


def _load_entry_point(scheme: str) -> SignerProvider | None:
    """Import the entry point named ``scheme`` in our group, if one is installed."""
    found = [
        entry
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if entry.name.lower() == scheme
    ]
    if not found:
        _log.debug("no entry point in %s for scheme %r", ENTRY_POINT_GROUP, scheme)
        return None
    distinct = {entry.value for entry in found}
    if len(distinct) > 1:
        owners = ", ".join(sorted(_describe_entry(entry) for entry in found))
        raise SignerError(
            f"several installed plugins provide the signer scheme {scheme!r}: {owners}",
            hint="uninstall all but one, or call register_signer(..., replace=True)",
            scheme=scheme,
        )
    entry = found[0]
    origin = f"entry point {_describe_entry(entry)}"
    try:
        loaded = entry.load()
    except Exception as exc:
        raise SignerError(
            f"the signer plugin for scheme {scheme!r} failed to load ({origin}): {exc}",
            scheme=scheme,
        ) from exc
    try:
        provider = _as_provider(loaded, origin)
    except TypeError as exc:
        raise SignerError(
            f"the signer plugin for scheme {scheme!r} ({origin}) is not usable: {exc}",
            scheme=scheme,
        ) from exc
    _log.debug("loaded signer provider for %r from %s", scheme, origin)
    return provider


def _describe_entry(entry: metadata.EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    where = f" ({dist.name} {dist.version})" if dist is not None else ""
    return f"{entry.name} = {entry.value}{where}"


def _unknown_scheme(scheme: str, reference: str) -> UnknownSignerSchemeError:
    known = ", ".join(registered_schemes(include_entry_points=False))
    if scheme in COSIGN_PLUGIN_SCHEMES:
        hint = (
            f"cosign handles {scheme} key references itself; imagesig needs a plugin that "
            f"registers the {scheme!r} scheme in the {ENTRY_POINT_GROUP!r} entry-point group "
            f"(or register_signer({scheme!r}, factory)); available schemes: {known}"
        )
    else:
        hint = (
            f"install a plugin that registers {scheme!r} in the {ENTRY_POINT_GROUP!r} "
            f"entry-point group, or call register_signer({scheme!r}, factory); "
            f"available schemes: {known}"
        )
    return UnknownSignerSchemeError(
        f"no provider installed for scheme {scheme!r}; install a plugin",
        hint=hint,
        scheme=scheme,
        key=_describe(reference),
    )
