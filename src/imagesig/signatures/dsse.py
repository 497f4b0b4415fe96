"""DSSE envelopes: the signed wrapper around in-toto statements.

A DSSE signature never covers the payload alone but its *pre-authentication encoding*::

    PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body

with the lengths in ASCII decimal bytes (:func:`pae`). Changing ``payloadType`` therefore
breaks every signature, which is the point.

The JSON envelope carries ``payloadType``, base64 ``payload`` and a list of ``{keyid, sig}``.
Readers accept standard and URL-safe base64, padded or not, as the DSSE protocol requires of
verifiers; writers always emit standard padded base64. Field names are matched as cosign's Go
decoder matches them (case-insensitively; two keys for one field are refused) and unknown
fields are ignored, as the envelope specification asks.

Producers disagree on the bytes of an envelope, and a Rekor ``dsse`` entry's ``envelopeHash``
is the SHA-256 of the exact string that was submitted, so :class:`Envelope` keeps what it
parsed in :attr:`Envelope.raw` and :meth:`Envelope.to_json` can write each producer's form:

* ``"securesystemslib"`` (default) — ``{"payloadType":..,"payload":..,"signatures":[{"keyid":"",
  "sig":..}]}``: go-securesystemslib's struct order with ``keyid`` always present. cosign v2
  attached and logged these bytes (the published attestation bundles made by cosign in 2025
  hash to their entry's ``envelopeHash`` this way).
* ``"protobuf"`` — ``{"payload":..,"payloadType":..,"signatures":[{"sig":..}]}``: the protobuf
  struct written by Go's ``encoding/json`` (empty fields omitted). cosign v3 attaches these
  bytes to ``.att`` images, and current sigstore-go submits them to Rekor for bundles.

A bundle does not carry the submitted string, so an ``envelopeHash`` can only be recomputed by
trying the forms; sigstore-go instead matches a bundle's envelope to its log entry through the
entry's ``payloadHash`` and signature, which do not depend on serialisation.

Inside a Sigstore bundle the envelope is a protobuf JSON message (:meth:`Envelope.from_protojson`,
:meth:`Envelope.to_protojson`).

Example::

    >>> pae("http://example.com/HelloWorld", b"hello world")
    b'DSSEv1 29 http://example.com/HelloWorld 11 hello world'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Literal

import attrs

from imagesig.errors import EnvelopeError, SizeLimitExceededError
from imagesig.signatures import _json

__all__ = [
    "DSSE_ENVELOPE_MEDIA_TYPE",
    "IN_TOTO_PAYLOAD_TYPE",
    "MAX_ENVELOPE_BYTES",
    "MAX_LABEL_LENGTH",
    "MAX_SIGNATURES",
    "MAX_SIGNATURE_BYTES",
    "Envelope",
    "EnvelopeSignature",
    "pae",
]

#: Media type of an attestation layer (``.att`` images) holding a DSSE envelope.
DSSE_ENVELOPE_MEDIA_TYPE: Final = "application/vnd.dsse.envelope.v1+json"
#: ``payloadType`` of an in-toto statement, the only one cosign verifies.
IN_TOTO_PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
#: Largest envelope :meth:`Envelope.parse` reads by default. Attestations can carry large
#: SBOMs; callers fetching untrusted layers should pass a cap that suits them.
MAX_ENVELOPE_BYTES: Final = 32 * 1024 * 1024
#: Most signatures accepted in one envelope.
MAX_SIGNATURES: Final = 32
#: Largest single signature accepted (room for post-quantum signatures).
MAX_SIGNATURE_BYTES: Final = 64 * 1024
#: Longest ``payloadType`` or ``keyid`` accepted.
MAX_LABEL_LENGTH: Final = 4096

EnvelopeStyle = Literal["securesystemslib", "protobuf"]

_WHAT = "DSSE envelope"
_PROTO_ENVELOPE_FIELDS = {
    "payload": "payload",
    "payloadType": "payloadType",
    "signatures": "signatures",
}
_PROTO_SIGNATURE_FIELDS = {"sig": "sig", "keyid": "keyid"}


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return the DSSE pre-authentication encoding of ``payload``: what is actually signed.

    Args:
        payload_type: the ``payloadType`` (encoded as UTF-8).
        payload: the raw (decoded) payload bytes.

    Returns:
        ``b"DSSEv1 <len(type)> <type> <len(payload)> <payload>"``, lengths in bytes.

    Example:
        >>> pae("application/vnd.in-toto+json", b"{}")
        b'DSSEv1 28 application/vnd.in-toto+json 2 {}'
    """
    encoded_type = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(encoded_type), encoded_type, len(payload), payload)


@attrs.frozen
class EnvelopeSignature:
    """One signature of an envelope.

    Attributes:
        sig: the raw signature bytes (ASN.1 DER for ECDSA as cosign writes it).
        keyid: an unauthenticated hint naming the key; never use it for a security decision.
    """

    sig: bytes
    keyid: str = ""


def _signatures(value: Iterable[EnvelopeSignature]) -> tuple[EnvelopeSignature, ...]:
    return tuple(value)


@attrs.frozen
class Envelope:
    """A DSSE envelope.

    Attributes:
        payload: the decoded payload bytes (the serialized body that was signed).
        payload_type: the ``payloadType``.
        signatures: the signatures, in envelope order.
        raw: the exact bytes :meth:`parse` read; ``None`` for an envelope built here or read
            from a bundle. Hash and store these, never a re-serialisation.
    """

    payload: bytes
    payload_type: str
    signatures: tuple[EnvelopeSignature, ...] = attrs.field(converter=_signatures)
    raw: bytes | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def parse(
        cls,
        raw: bytes,
        *,
        max_bytes: int = MAX_ENVELOPE_BYTES,
        max_signatures: int = MAX_SIGNATURES,
    ) -> Envelope:
        """Parse an envelope from its JSON bytes (an ``.att`` layer, a Rekor entry...).

        Args:
            raw: the envelope bytes.
            max_bytes: largest accepted envelope.
            max_signatures: most signatures accepted.

        Returns:
            The envelope, with :attr:`raw` set to ``raw``.

        Raises:
            SizeLimitExceededError: the envelope, a signature or the signature count is over
                its cap, or the JSON nests too deeply.
            EnvelopeError: it is not UTF-8 JSON, has duplicate or case-ambiguous keys, lacks
                ``payload``, ``payloadType``, ``signatures`` or a ``sig``, has a field of the
                wrong type, or has undecodable base64.
        """
        body = _json.load_json(raw, what=_WHAT, max_bytes=max_bytes, error=EnvelopeError)
        if not isinstance(body, dict):
            raise EnvelopeError("DSSE envelope must be a JSON object")
        fields = _json.go_fields(
            body, ("payloadType", "payload", "signatures"), where=_WHAT, error=EnvelopeError
        )
        payload_type = _label(fields.get("payloadType"), "payloadType", EnvelopeError)
        payload = _json.decode_base64(
            _required(fields.get("payload"), "payload", EnvelopeError),
            field="payload",
            error=EnvelopeError,
        )
        items = _list(fields.get("signatures"), "signatures", max_signatures, EnvelopeError)
        signatures = []
        for index, item in enumerate(items):
            where = f"signatures[{index}]"
            if not isinstance(item, dict):
                raise EnvelopeError(f"DSSE envelope {where} must be an object", field=where)
            parts = _json.go_fields(item, ("keyid", "sig"), where=where, error=EnvelopeError)
            sig = _json.decode_base64(
                _required(parts.get("sig"), f"{where}.sig", EnvelopeError),
                field=f"{where}.sig",
                error=EnvelopeError,
                max_bytes=MAX_SIGNATURE_BYTES,
            )
            keyid = parts.get("keyid")
            keyid = "" if keyid is None else _label(keyid, f"{where}.keyid", EnvelopeError)
            signatures.append(EnvelopeSignature(sig, keyid))
        return cls(payload, payload_type, tuple(signatures), bytes(raw))

    @classmethod
    def from_protojson(cls, obj: Any, *, max_signatures: int = MAX_SIGNATURES) -> Envelope:
        """Read an envelope from its protobuf JSON form (a bundle's ``dsseEnvelope``).

        Args:
            obj: the parsed JSON object.
            max_signatures: most signatures accepted.

        Returns:
            The envelope (:attr:`raw` is ``None``).

        Raises:
            EnvelopeError: unknown or repeated fields, a missing ``payload`` or
                ``payloadType``, a field of the wrong type or undecodable base64.
            SizeLimitExceededError: too many signatures or one too large.
        """
        return _from_protojson(obj, "dsseEnvelope", EnvelopeError, max_signatures)

    def pae_bytes(self) -> bytes:
        """Return :func:`pae` of this envelope: the bytes each signature signs."""
        return pae(self.payload_type, self.payload)

    def to_json(self, *, style: EnvelopeStyle = "securesystemslib") -> bytes:
        """Write the envelope as a given producer writes it (see the module notes).

        Args:
            style: ``"securesystemslib"`` (cosign v2 layers, Rekor ``dsse`` entries) or
                ``"protobuf"`` (cosign v3 layers).

        Returns:
            Compact JSON bytes with standard padded base64.

        Raises:
            EnvelopeError: a label cannot be written as JSON (a lone surrogate).
        """
        payload = _json.encode_base64(self.payload)
        document: dict[str, Any]
        if style == "securesystemslib":
            document = {
                "payloadType": self.payload_type,
                "payload": payload,
                "signatures": [
                    {"keyid": s.keyid, "sig": _json.encode_base64(s.sig)} for s in self.signatures
                ],
            }
        elif style == "protobuf":
            document = self.to_protojson()
        else:
            raise ValueError(f"unknown envelope style {style!r}")
        try:
            return _json.encode(document, html_safe=True).encode("utf-8")
        except ValueError as exc:
            raise EnvelopeError(f"cannot write the DSSE envelope: {exc}") from exc

    def to_protojson(self) -> dict[str, Any]:
        """Return the protobuf JSON form: field order ``payload, payloadType, signatures``
        and ``sig, keyid``, empty values omitted."""
        document: dict[str, Any] = {}
        if self.payload:
            document["payload"] = _json.encode_base64(self.payload)
        if self.payload_type:
            document["payloadType"] = self.payload_type
        signatures = []
        for signature in self.signatures:
            item: dict[str, Any] = {}
            if signature.sig:
                item["sig"] = _json.encode_base64(signature.sig)
            if signature.keyid:
                item["keyid"] = signature.keyid
            signatures.append(item)
        if signatures:
            document["signatures"] = signatures
        return document


def _from_protojson(obj: Any, where: str, error: _json.ErrorType, max_signatures: int) -> Envelope:
    if not isinstance(obj, dict):
        raise error(f"{where} must be an object", field=where)
    fields = _json.proto_fields(obj, _PROTO_ENVELOPE_FIELDS, where=where, error=error)
    payload = _json.decode_base64(
        _required(fields.get("payload"), f"{where}.payload", error),
        field=f"{where}.payload",
        error=error,
    )
    payload_type = _label(fields.get("payloadType"), f"{where}.payloadType", error)
    items = _list(fields.get("signatures", []), f"{where}.signatures", max_signatures, error)
    signatures = []
    for index, item in enumerate(items):
        field = f"{where}.signatures[{index}]"
        if not isinstance(item, dict):
            raise error(f"{field} must be an object", field=field)
        parts = _json.proto_fields(item, _PROTO_SIGNATURE_FIELDS, where=field, error=error)
        sig = _json.decode_base64(
            parts.get("sig", ""), field=f"{field}.sig", error=error, max_bytes=MAX_SIGNATURE_BYTES
        )
        keyid = parts.get("keyid", "")
        signatures.append(EnvelopeSignature(sig, _label(keyid, f"{field}.keyid", error)))
    return Envelope(payload, payload_type, tuple(signatures))


def _required(value: Any, field: str, error: _json.ErrorType) -> Any:
    if value is None:
        raise error(f"{_WHAT} has no {field}", field=field)
    return value


def _label(value: Any, field: str, error: _json.ErrorType) -> str:
    if not isinstance(value, str):
        shown = "missing" if value is None else "not a string"
        raise error(f"{_WHAT} {field} is {shown}", field=field)
    if len(value) > MAX_LABEL_LENGTH:
        raise error(f"{_WHAT} {field} is {len(value)} characters long", field=field)
    return value


def _list(value: Any, field: str, cap: int, error: _json.ErrorType) -> list[Any]:
    if not isinstance(value, list):
        shown = "missing" if value is None else "not an array"
        raise error(f"{_WHAT} {field} is {shown}", field=field)
    if len(value) > cap:
        raise SizeLimitExceededError(
            f"{_WHAT} has {len(value)} signatures, more than the cap of {cap}",
            what=field,
            size=len(value),
            limit=cap,
        )
    return value
