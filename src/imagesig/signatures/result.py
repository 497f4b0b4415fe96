"""What signing and verification return: :class:`SignResult` and :class:`VerificationResult`.

A failed verification is a value, not an exception: :func:`~imagesig.verify_image` returns a
:class:`VerificationResult` whose :attr:`~VerificationResult.verified` is ``False`` and whose
:attr:`~VerificationResult.signatures` say, one by one, why each signature found was refused.
Call :meth:`VerificationResult.raise_for_failure` to turn a failure into a
:class:`~imagesig.errors.VerificationError`.

The result is pinned: :attr:`VerificationResult.image` carries the digest that was verified,
and only that digest is safe to deploy; a tag may point elsewhere by now.

Example:
    >>> result = verify_image("registry.example.com/app:1.4", keys=["cosign.pub"])  # doctest: +SKIP
    >>> result.image  # doctest: +SKIP
    ImageReference(... digest=Digest('sha256', '3a4f...'))
    >>> result.raise_for_failure()  # doctest: +SKIP
"""

from __future__ import annotations

import html
from typing import Any

import attrs

from imagesig.errors import VerificationError
from imagesig.oci.model import Descriptor
from imagesig.reference import Digest, ImageReference
from imagesig.signatures.options import SignatureFormat
from imagesig.tlog.entries import LogEntry

__all__ = ["VERIFIED_REASON", "SignResult", "SignatureCheck", "VerificationResult"]

#: :attr:`SignatureCheck.reason` of a signature that passed every check.
VERIFIED_REASON = "verified"


@attrs.frozen
class SignResult:
    """What :func:`~imagesig.sign_image` did.

    Attributes:
        image: the signed image, pinned to the digest that was signed.
        format: where the signature was stored.
        signature: the descriptor of the manifest holding the signature: the referrer
            manifest (bundle format) or the ``sha256-<hex>.sig`` manifest (legacy format)
            as written.
        log_entry: the transparency-log entry recording the signature, verified against the
            trusted root before the signature was attached; ``None`` when nothing was logged.
    """

    image: ImageReference
    format: SignatureFormat
    signature: Descriptor
    log_entry: LogEntry | None


@attrs.frozen
class SignatureCheck:
    """The verdict on one signature found for the image.

    Attributes:
        format: where it was found.
        key_id: hex SHA-256 of the DER public key the signature verified with; ``None`` when
            it verified with none of the keys given (or was refused before that check).
        ok: the signature passed every check.
        reason: ``"verified"`` when :attr:`ok`, otherwise a sentence naming the check that
            failed and what was found.
        location: where it was found: the ``.sig`` tag reference (with the layer digest) or
            the referrer manifest's reference.
        log_index: index of the transparency-log entry that vouched for it, if one did.
        integrated_time: that entry's integration time (Unix seconds), if one did.
    """

    format: SignatureFormat
    key_id: str | None
    ok: bool
    reason: str
    location: str
    log_index: int | None = None
    integrated_time: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (keys in a fixed order; ``None`` values kept as ``null``)."""
        return {
            "format": self.format.value,
            "ok": self.ok,
            "reason": self.reason,
            "key_id": self.key_id,
            "location": self.location,
            "log_index": self.log_index,
            "integrated_time": self.integrated_time,
        }


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


@attrs.frozen(repr=False)
class VerificationResult:
    """The outcome of verifying an image's signatures.

    The image is verified when at least one signature passed every check with one of the
    given keys; a signature that fails never spoils another, and a valid signature by a key
    that was not given never counts.

    Attributes:
        image: the reference asked for, pinned to :attr:`digest` (a tag is resolved once and
            never again).
        digest: the manifest digest whose signatures were checked.
        verified: at least one signature passed every check.
        signatures: one check per distinct signature found, in discovery order (bundles
            first, then ``.sig`` layers); duplicates appear once.
        warnings: things the caller should know although they did not decide the outcome,
            e.g. that transparency-log verification was skipped.
    """

    image: ImageReference
    digest: Digest
    verified: bool
    signatures: tuple[SignatureCheck, ...] = attrs.field(converter=_tuple)
    warnings: tuple[str, ...] = attrs.field(default=(), converter=_tuple)

    def __bool__(self) -> bool:
        return self.verified

    @property
    def verified_key_ids(self) -> tuple[str, ...]:
        """The distinct keys (hex key ids) that verified at least one signature, in order."""
        seen: dict[str, None] = {}
        for check in self.signatures:
            if check.ok and check.key_id is not None:
                seen.setdefault(check.key_id, None)
        return tuple(seen)

    def failure_summary(self) -> str:
        """Return one sentence saying why verification failed (or ``"verified"``)."""
        if self.verified:
            return VERIFIED_REASON
        if not self.signatures:
            return f"no signatures found for {self.image}"
        reasons = "; ".join(dict.fromkeys(check.reason for check in self.signatures))
        count = len(self.signatures)
        noun = "signature" if count == 1 else "signatures"
        return f"none of the {count} {noun} found for {self.image} verified: {reasons}"

    def raise_for_failure(self) -> None:
        """Raise when the image did not verify.

        Raises:
            VerificationError: :attr:`verified` is ``False``; the error carries this result
                as ``.result``.
        """
        if not self.verified:
            raise VerificationError(
                self.failure_summary(),
                result=self,
                image=str(self.image),
                digest=str(self.digest),
            )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with a stable shape and key order.

        Returns:
            ``{"image", "digest", "verified", "signatures": [...], "warnings": [...]}``; each
            signature as :meth:`SignatureCheck.to_dict`.
        """
        return {
            "image": str(self.image),
            "digest": str(self.digest),
            "verified": self.verified,
            "signatures": [check.to_dict() for check in self.signatures],
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        return (
            f"VerificationResult(image={str(self.image)!r}, verified={self.verified}, "
            f"signatures={len(self.signatures)}, warnings={len(self.warnings)})"
        )

    def _repr_html_(self) -> str:
        """A small HTML table for Jupyter: the verdict, then one row per signature."""
        verdict = "verified" if self.verified else "NOT verified"
        colour = "#1a7f37" if self.verified else "#cf222e"
        rows = "".join(
            "<tr>"
            f"<td>{'&#10004;' if check.ok else '&#10008;'}</td>"
            f"<td>{html.escape(check.format.value)}</td>"
            f"<td><code>{html.escape((check.key_id or '')[:16])}</code></td>"
            f"<td>{html.escape(check.reason)}</td>"
            f"<td><code>{html.escape(check.location)}</code></td>"
            f"<td>{'' if check.log_index is None else check.log_index}</td>"
            "</tr>"
            for check in self.signatures
        )
        if not rows:
            rows = '<tr><td colspan="6">no signatures found</td></tr>'
        warnings = "".join(f"<li>{html.escape(text)}</li>" for text in self.warnings)
        return (
            f'<div><p><b style="color:{colour}">{verdict}</b> '
            f"<code>{html.escape(str(self.image))}</code></p>"
            "<table><thead><tr><th></th><th>format</th><th>key</th><th>reason</th>"
            "<th>location</th><th>log index</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            + (f"<ul>{warnings}</ul>" if warnings else "")
            + "</div>"
        )
