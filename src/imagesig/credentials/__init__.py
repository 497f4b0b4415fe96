"""Ambient identity: tokens a workload's platform hands it, found the way cosign finds them.

No long-lived secrets: on GitHub Actions, GKE, a SPIRE-attested host or a pod with a
projected token, the platform proves who the workload is. This package finds that proof.

Example::

    from imagesig.credentials import detect_credential, detection_report

    token = detect_credential("sigstore")         # IdentityToken, or None when nothing applies
    print(detection_report("sigstore", fetch=False))   # why each provider applies or not

Modules: :mod:`.base` (:class:`IdentityToken`, the :class:`CredentialProvider` protocol),
:mod:`.detect` (order, plugins, :func:`detect_credential`, :func:`detection_report`),
:mod:`.github`, :mod:`.google`, :mod:`.spiffe`, :mod:`.filesystem` (one provider family
each) and :mod:`.registry` (Google access tokens as registry credentials). Provider classes
and the registry keychain load on first access, so importing this package stays cheap; no
provider imports google-auth, httpx or spiffe before it fetches a token.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imagesig.credentials.base import (
    DEFAULT_AUDIENCE,
    DEFAULT_TIMEOUT,
    MAX_TOKEN_CHARS,
    CredentialProvider,
    Detection,
    IdentityToken,
)
from imagesig.credentials.detect import (
    ENTRY_POINT_GROUP,
    DetectionReport,
    ProviderReport,
    ProviderStatus,
    default_providers,
    detect_credential,
    detection_report,
    get_provider,
    register_provider,
    reset_providers,
)

_LAZY = {
    "EnvironmentTokenProvider": "imagesig.credentials.filesystem",
    "FileTokenProvider": "imagesig.credentials.filesystem",
    "GitHubActionsProvider": "imagesig.credentials.github",
    "GoogleAccessTokenSource": "imagesig.credentials.google",
    "GoogleImpersonationProvider": "imagesig.credentials.google",
    "GoogleMetadataProvider": "imagesig.credentials.google",
    "google_default_credentials": "imagesig.credentials.google",
    "SpiffeProvider": "imagesig.credentials.spiffe",
    "GoogleRegistryKeychain": "imagesig.credentials.registry",
    "ambient_keychain": "imagesig.credentials.registry",
}

if TYPE_CHECKING:
    from imagesig.credentials.filesystem import EnvironmentTokenProvider, FileTokenProvider
    from imagesig.credentials.github import GitHubActionsProvider
    from imagesig.credentials.google import (
        GoogleAccessTokenSource,
        GoogleImpersonationProvider,
        GoogleMetadataProvider,
        google_default_credentials,
    )
    from imagesig.credentials.registry import GoogleRegistryKeychain, ambient_keychain
    from imagesig.credentials.spiffe import SpiffeProvider

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_TIMEOUT",
    "ENTRY_POINT_GROUP",
    "MAX_TOKEN_CHARS",
    "CredentialProvider",
    "Detection",
    "DetectionReport",
    "EnvironmentTokenProvider",
    "FileTokenProvider",
    "GitHubActionsProvider",
    "GoogleAccessTokenSource",
    "GoogleImpersonationProvider",
    "GoogleMetadataProvider",
    "GoogleRegistryKeychain",
    "IdentityToken",
    "ProviderReport",
    "ProviderStatus",
    "SpiffeProvider",
    "ambient_keychain",
    "default_providers",
    "detect_credential",
    "detection_report",
    "get_provider",
    "google_default_credentials",
    "register_provider",
    "reset_providers",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imagesig.credentials' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
