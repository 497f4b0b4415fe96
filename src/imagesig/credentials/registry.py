"""Google registry credentials from the environment, as a keychain for the registry client.

Container Registry (``gcr.io``, ``*.gcr.io``) and Artifact Registry (``*.pkg.dev``) accept
HTTP Basic credentials with the user name ``oauth2accesstoken`` and an OAuth2 access token
as the password. :class:`GoogleRegistryKeychain` supplies them from Application Default
Credentials (the metadata server on GCE and GKE, a credentials file, gcloud's ADC file) —
and only for those hosts: a Google token is never offered to any other registry, whatever
the image reference says.

It belongs *after* docker's configuration, so ``docker login`` and credential helpers keep
precedence::

    from imagesig.oci.credentials import ChainKeychain, DockerConfigKeychain
    keychain = ChainKeychain([DockerConfigKeychain(), GoogleRegistryKeychain()])

which :func:`ambient_keychain` returns. This module is the one bridge between ambient
credentials and the OCI layer; the providers themselves know nothing about registries.

:class:`~imagesig.Client` and :class:`~imagesig.AsyncClient` use ``ambient_keychain(strict=False)``
when no ``keychain=`` is given: Google tokens are looked for only when a Google registry
asks for credentials, and when they cannot be had (a metadata server that refuses, a broken
credentials file) a warning is logged and the registry is accessed anonymously, so public
images on ``gcr.io`` and ``pkg.dev`` still pull. Explicit keychains are strict by default and
raise instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from imagesig.credentials.google import GoogleAccessTokenSource
from imagesig.errors import CredentialError
from imagesig.oci.credentials import (
    GOOGLE_REGISTRY_HOSTS,
    CallableKeychain,
    ChainKeychain,
    DockerConfigKeychain,
    Keychain,
    RegistryCredential,
)

__all__ = ["GOOGLE_REGISTRY_USERNAME", "GoogleRegistryKeychain", "ambient_keychain"]

_log = logging.getLogger(__name__)

GOOGLE_REGISTRY_USERNAME = "oauth2accesstoken"
"""The user name Google's registries expect with an access token as the password."""


class GoogleRegistryKeychain:
    """Access tokens from Application Default Credentials for Google's registries only.

    Args:
        tokens: where access tokens come from (default: a new
            :class:`~imagesig.credentials.google.GoogleAccessTokenSource`).
        hosts: the registry host patterns it answers for (default
            :data:`~imagesig.oci.credentials.GOOGLE_REGISTRY_HOSTS`: ``gcr.io``,
            ``*.gcr.io``, ``*.pkg.dev``).
        strict: raise when Google credentials are configured but no token can be had
            (the default); with ``False`` log a warning and answer ``None`` (anonymous
            access) instead.

    Example:
        >>> keychain = GoogleRegistryKeychain()                          # doctest: +SKIP
        >>> keychain.resolve("europe-docker.pkg.dev")                    # doctest: +SKIP
        RegistryCredential(username='oauth2accesstoken', password=***)
        >>> keychain.resolve("ghcr.io") is None                          # doctest: +SKIP
        True
    """

    def __init__(
        self,
        tokens: GoogleAccessTokenSource | None = None,
        *,
        hosts: Iterable[str] = GOOGLE_REGISTRY_HOSTS,
        strict: bool = True,
    ) -> None:
        self._tokens = tokens if tokens is not None else GoogleAccessTokenSource()
        self.strict = strict
        self._keychain = CallableKeychain(self._credential, hosts=hosts)

    @property
    def hosts(self) -> tuple[str, ...]:
        """The host patterns this keychain answers for."""
        return self._keychain.hosts or ()

    def applies_to(self, registry: str) -> bool:
        """Return whether ``registry`` is a Google registry this keychain may answer for."""
        return self._keychain.applies_to(registry)

    def resolve(self, registry: str) -> RegistryCredential | None:
        """Return ``oauth2accesstoken`` credentials for a Google registry, else ``None``.

        Args:
            registry: a normalised ``host[:port]``.

        Returns:
            ``None`` for any other registry (without looking for credentials at all), and
            when no Google credentials are configured here (or, when not :attr:`strict`,
            when they fail).

        Raises:
            CredentialPermissionError: the token source refused to issue a token (strict).
            CredentialProviderError: Google credentials are configured but broken, or
                refreshing them failed (strict).
        """
        return self._keychain.resolve(registry)

    def _credential(self, registry: str) -> RegistryCredential | None:
        try:
            token = self._tokens.token()
        except CredentialError as exc:
            if self.strict:
                raise
            # The message names the source and account, never a token.
            _log.warning(
                "credentials: no Google access token for %s, trying anonymous access: %s%s",
                registry,
                exc.message,
                f" (hint: {exc.hint})" if exc.hint else "",
            )
            return None
        if token is None:
            _log.debug("credentials: no Google access token for %s", registry)
            return None
        _log.debug("credentials: %s gets a Google access token", registry)
        return RegistryCredential(username=GOOGLE_REGISTRY_USERNAME, password=token)

    def __repr__(self) -> str:
        return f"GoogleRegistryKeychain(hosts={self.hosts!r}, strict={self.strict!r})"


def ambient_keychain(docker: Keychain | None = None, *, strict: bool = True) -> ChainKeychain:
    """Return docker's credentials first, then Google access tokens for Google registries.

    Making it does no I/O and imports no Google library: docker's configuration is read on
    the first lookup, and a Google token is fetched only for a Google registry.

    Args:
        docker: the first keychain (default: a new
            :class:`~imagesig.oci.credentials.DockerConfigKeychain`).
        strict: passed to :class:`GoogleRegistryKeychain` (``False``: a Google token that
            cannot be had means anonymous access and a warning, not an error).

    Returns:
        ``ChainKeychain([docker, GoogleRegistryKeychain(strict=strict)])``.
    """
    return ChainKeychain(
        [
            docker if docker is not None else DockerConfigKeychain(),
            GoogleRegistryKeychain(strict=strict),
        ]
    )
