"""Options shared by signing and verification: which storage format, which transparency log.

:class:`SignatureFormat` chooses where and how a new signature is stored (verification always
looks in both places). :class:`TransparencyLogOptions` carries cosign's transparency-log
switches with cosign's defaults: signatures are recorded in the log, and verification needs a
log proof.

Example:
    >>> options = TransparencyLogOptions(ignore=True)
    >>> options.upload, options.ignore
    (True, True)
"""

from __future__ import annotations

import enum

import attrs

from imagesig.tlog.trust import DEFAULT_REKOR_URL, TrustedRoot

__all__ = ["DEFAULT_REKOR_URL", "SignatureFormat", "TransparencyLogOptions"]


class SignatureFormat(enum.Enum):
    """How a signature is stored next to an image.

    Attributes:
        BUNDLE: a Sigstore bundle v0.3 (an in-toto statement in a DSSE envelope) attached as
            an OCI 1.1 referrer of the image, with the ``sha256-<hex>`` tag-schema index on
            registries without the referrers API. What current cosign writes by default.
        LEGACY: a simple-signing payload stored as one layer of the image tagged
            ``sha256-<hex>.sig`` in the image's repository, with the signature (and the
            transparency-log entry) in the layer's annotations. What cosign wrote before v3.
    """

    BUNDLE = "bundle"
    LEGACY = "legacy"


@attrs.frozen
class TransparencyLogOptions:
    """Transparency-log (Rekor) settings, named after cosign's flags.

    Attributes:
        upload: record new signatures in the log (``--tlog-upload``).
        rekor_url: the Rekor instance to record in and to search (``--rekor-url``).
        ignore: verify without any log proof (``--insecure-ignore-tlog``); results then carry a
            warning saying so.
        offline: never contact Rekor when verifying (``--offline``): only proofs attached to
            the signature count.
        trusted_root: the logs whose entries are trusted; ``None`` means
            :meth:`TrustedRoot.from_environment` (``SIGSTORE_REKOR_PUBLIC_KEY`` or the
            public-good root). Signing verifies the entry it gets back against it too.
    """

    upload: bool = True
    rekor_url: str = DEFAULT_REKOR_URL
    ignore: bool = False
    offline: bool = False
    trusted_root: TrustedRoot | None = None
