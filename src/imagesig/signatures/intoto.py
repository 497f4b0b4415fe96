"""in-toto statements: what a DSSE-signed attestation says about which artifacts.

A statement names its subjects by digest and carries a typed predicate::

    {"_type":"https://in-toto.io/Statement/v1",
     "subject":[{"digest":{"sha256":"<hex>"},"annotations":{}}],
     "predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}

cosign and sigstore-go decode statements with protobuf's JSON mapping, and :meth:`Statement.parse`
reads them the same way: the JSON name or the proto field name is accepted (``predicateType``
or ``predicate_type``), a field given under both names, an unknown field and a duplicate key
are refused, ``null`` means unset. ``_type`` must be one of the two statement types in use
(:data:`STATEMENT_TYPE_V1`, :data:`STATEMENT_TYPE_V01`); cosign itself does not look at it.
The subject list and each subject's digest set are capped (:data:`MAX_SUBJECTS`,
:data:`MAX_SUBJECT_DIGESTS`, sigstore-go's limits) before any subject is read.

Serialising (:func:`build`, :meth:`Statement.to_json`) follows protobuf's JSON writer: fields
in declaration order, map and object keys sorted, empty fields omitted. That writer is not
byte-stable: each Go build of it puts either no space or one space after every comma. imagesig
always writes the form without spaces; a received statement is never re-serialised (its DSSE
signature covers the bytes it came in, kept in :attr:`Statement.raw`).
Statements written by cosign v2 (in-toto-golang structs through Go's ``encoding/json``: order
``_type``, ``predicateType``, ``subject``, ``predicate``) parse the same but would re-serialise
differently.

Predicate types have short names on cosign's command line (``--type``);
:func:`resolve_predicate_type` maps them as cosign does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from imagesig.errors import SizeLimitExceededError, StatementError
from imagesig.reference import Digest
from imagesig.signatures import _json

__all__ = [
    "COSIGN_CUSTOM_PREDICATE_TYPE",
    "COSIGN_SIGN_PREDICATE_TYPE",
    "COSIGN_VULN_PREDICATE_TYPE",
    "CYCLONEDX_PREDICATE_TYPE",
    "LINK_V1_PREDICATE_TYPE",
    "MAX_STATEMENT_BYTES",
    "MAX_SUBJECTS",
    "MAX_SUBJECT_DIGESTS",
    "OPENVEX_PREDICATE_TYPE",
    "PREDICATE_TYPES",
    "SLSA_PROVENANCE_V02_PREDICATE_TYPE",
    "SLSA_PROVENANCE_V1_PREDICATE_TYPE",
    "SPDX_PREDICATE_TYPE",
    "STATEMENT_TYPES",
    "STATEMENT_TYPE_V01",
    "STATEMENT_TYPE_V1",
    "Statement",
    "Subject",
    "build",
    "resolve_predicate_type",
]

#: ``_type`` of in-toto Statement v1.
STATEMENT_TYPE_V1: Final = "https://in-toto.io/Statement/v1"
#: ``_type`` of in-toto Statement v0.1, which ``cosign attest`` still writes.
STATEMENT_TYPE_V01: Final = "https://in-toto.io/Statement/v0.1"
#: The statement types accepted when reading.
STATEMENT_TYPES: Final = frozenset({STATEMENT_TYPE_V1, STATEMENT_TYPE_V01})

#: Predicate of the statement ``cosign sign`` signs in bundle mode.
COSIGN_SIGN_PREDICATE_TYPE: Final = "https://sigstore.dev/cosign/sign/v1"
#: cosign's ``custom`` predicate (``{"Data": ..., "Timestamp": ...}``), its ``--type`` default.
COSIGN_CUSTOM_PREDICATE_TYPE: Final = "https://cosign.sigstore.dev/attestation/v1"
#: cosign's vulnerability-scan predicate.
COSIGN_VULN_PREDICATE_TYPE: Final = "https://cosign.sigstore.dev/attestation/vuln/v1"
#: SLSA provenance v0.2.
SLSA_PROVENANCE_V02_PREDICATE_TYPE: Final = "https://slsa.dev/provenance/v0.2"
#: SLSA provenance v1.
SLSA_PROVENANCE_V1_PREDICATE_TYPE: Final = "https://slsa.dev/provenance/v1"
#: SPDX documents (both cosign's ``spdx`` and ``spdxjson``).
SPDX_PREDICATE_TYPE: Final = "https://spdx.dev/Document"
#: CycloneDX BOMs.
CYCLONEDX_PREDICATE_TYPE: Final = "https://cyclonedx.org/bom"
#: in-toto 0.9 links.
LINK_V1_PREDICATE_TYPE: Final = "https://in-toto.io/Link/v1"
#: OpenVEX documents.
OPENVEX_PREDICATE_TYPE: Final = "https://openvex.dev/ns"

#: cosign's ``--type`` short names and the predicate types they stand for.
PREDICATE_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "custom": COSIGN_CUSTOM_PREDICATE_TYPE,
        "slsaprovenance": SLSA_PROVENANCE_V02_PREDICATE_TYPE,
        "slsaprovenance02": SLSA_PROVENANCE_V02_PREDICATE_TYPE,
        "slsaprovenance1": SLSA_PROVENANCE_V1_PREDICATE_TYPE,
        "spdx": SPDX_PREDICATE_TYPE,
        "spdxjson": SPDX_PREDICATE_TYPE,
        "cyclonedx": CYCLONEDX_PREDICATE_TYPE,
        "link": LINK_V1_PREDICATE_TYPE,
        "vuln": COSIGN_VULN_PREDICATE_TYPE,
        "openvex": OPENVEX_PREDICATE_TYPE,
    }
)

#: Most subjects accepted in one statement.
MAX_SUBJECTS: Final = 1024
#: Most digests accepted for one subject.
MAX_SUBJECT_DIGESTS: Final = 32
#: Largest statement :meth:`Statement.parse` reads by default.
MAX_STATEMENT_BYTES: Final = 24 * 1024 * 1024
#: Longest ``predicateType`` (and predicate-type argument) accepted.
MAX_PREDICATE_TYPE_LENGTH: Final = 2048

_WHAT = "in-toto statement"
_STATEMENT_FIELDS = {
    "_type": "_type",
    "type": "_type",
    "subject": "subject",
    "predicateType": "predicateType",
    "predicate_type": "predicateType",
    "predicate": "predicate",
}
_SUBJECT_FIELDS = {
    "name": "name",
    "uri": "uri",
    "digest": "digest",
    "content": "content",
    "downloadLocation": "downloadLocation",
    "download_location": "downloadLocation",
    "mediaType": "mediaType",
    "media_type": "mediaType",
    "annotations": "annotations",
}
_MAX_TEXT_LENGTH = 64 * 1024

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:", re.ASCII)
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})", re.ASCII)
_HOST_RE = re.compile("[A-Za-z0-9\\-._~!$&'()*+,;=:\\[\\]<>\"%\u0080-\U0010ffff]*")
_IPV6_HOST_RE = re.compile(r"\[[0-9A-Fa-f:.]+(?:%25[A-Za-z0-9\-._~%]+)?\]", re.ASCII)
_USERINFO_RE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:%@]*", re.ASCII)
_PORT_RE = re.compile(r"(?::[0-9]*)?", re.ASCII)


def _frozen_digest(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


def _frozen_annotations(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if value is None else MappingProxyType(dict(value))


@attrs.frozen
class Subject:
    """One subject (a ``ResourceDescriptor``) of a statement.

    Attributes:
        digest: algorithm → hex digest (``{"sha256": "..."}``).
        name: the subject's name; cosign writes the repository for attestations and nothing
            for ``cosign sign`` statements.
        annotations: the annotations object, or ``None`` when unset (``{}`` is written as
            an empty object, as ``cosign sign`` writes it).
        uri: the resource URI, ``""`` when unset.
        download_location: where to download it, ``""`` when unset.
        media_type: its media type, ``""`` when unset.
        content: inline content, ``b""`` when unset.
    """

    digest: Mapping[str, str] = attrs.field(converter=_frozen_digest)
    name: str = ""
    annotations: Mapping[str, Any] | None = attrs.field(default=None, converter=_frozen_annotations)
    uri: str = ""
    download_location: str = ""
    media_type: str = ""
    content: bytes = b""

    def matches(self, digest: Digest) -> bool:
        """Tell whether this subject lists ``digest`` (same algorithm, same hex text)."""
        return self.digest.get(digest.algorithm) == digest.hex

    def to_protojson(self) -> dict[str, Any]:
        """Return the protobuf JSON form (declaration order, empty fields omitted)."""
        document: dict[str, Any] = {}
        if self.name:
            document["name"] = self.name
        if self.uri:
            document["uri"] = self.uri
        if self.digest:
            document["digest"] = _json.sorted_tree(self.digest)
        if self.content:
            document["content"] = _json.encode_base64(self.content)
        if self.download_location:
            document["downloadLocation"] = self.download_location
        if self.media_type:
            document["mediaType"] = self.media_type
        if self.annotations is not None:
            document["annotations"] = _json.sorted_tree(self.annotations)
        return document


def _subjects(value: Iterable[Subject]) -> tuple[Subject, ...]:
    return tuple(value)


@attrs.frozen
class Statement:
    """An in-toto statement.

    Attributes:
        type: the ``_type``, one of :data:`STATEMENT_TYPES`.
        subjects: the subjects.
        predicate_type: the ``predicateType`` URI.
        predicate: the predicate: a JSON object as ``dict`` (a string for cosign's legacy
            ``spdx`` attestations), or ``None`` when unset.
        raw: the exact bytes :meth:`parse` read, ``None`` for a statement built here.
    """

    type: str
    subjects: tuple[Subject, ...] = attrs.field(converter=_subjects)
    predicate_type: str
    predicate: Any = None
    raw: bytes | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def parse(cls, raw: bytes, *, max_bytes: int = MAX_STATEMENT_BYTES) -> Statement:
        """Parse a statement (a DSSE payload) strictly; see the module notes.

        Args:
            raw: the statement bytes, i.e. the decoded DSSE payload.
            max_bytes: largest accepted statement.

        Returns:
            The statement, with :attr:`raw` set to ``raw``.

        Raises:
            SizeLimitExceededError: the statement is larger than ``max_bytes``, nests too
                deeply, or has more than :data:`MAX_SUBJECTS` subjects or a subject with more
                than :data:`MAX_SUBJECT_DIGESTS` digests.
            StatementError: it is not UTF-8 JSON, has a duplicate, repeated or unknown field,
                an unknown ``_type``, no subject, a subject without digests, no
                ``predicateType``, or a field of the wrong type.
        """
        body = _json.load_json(raw, what=_WHAT, max_bytes=max_bytes, error=StatementError)
        if not isinstance(body, dict):
            raise StatementError("in-toto statement must be a JSON object")
        fields = _json.proto_fields(body, _STATEMENT_FIELDS, where=_WHAT, error=StatementError)
        kind = fields.get("_type")
        if kind not in STATEMENT_TYPES:
            shown = repr(kind[:100]) if isinstance(kind, str) else "missing or not a string"
            raise StatementError(
                f"in-toto statement _type is {shown}, expected one of "
                + ", ".join(sorted(STATEMENT_TYPES)),
                field="_type",
            )
        items = fields.get("subject")
        if not isinstance(items, list) or not items:
            raise StatementError("in-toto statement has no subject list", field="subject")
        if len(items) > MAX_SUBJECTS:
            raise SizeLimitExceededError(
                f"in-toto statement has {len(items)} subjects, more than the cap of {MAX_SUBJECTS}",
                what="subject",
                size=len(items),
                limit=MAX_SUBJECTS,
            )
        subjects = tuple(_parse_subject(item, index) for index, item in enumerate(items))
        predicate_type = fields.get("predicateType")
        if not isinstance(predicate_type, str) or not predicate_type:
            raise StatementError("in-toto statement has no predicateType", field="predicateType")
        if len(predicate_type) > MAX_PREDICATE_TYPE_LENGTH:
            raise StatementError(
                f"in-toto statement predicateType is {len(predicate_type)} characters long",
                field="predicateType",
            )
        predicate = fields.get("predicate")
        if predicate is not None and not isinstance(predicate, (dict, str)):
            raise StatementError(
                "in-toto statement predicate must be an object (or a string, as cosign's legacy"
                " spdx attestations have)",
                field="predicate",
            )
        return cls(kind, subjects, predicate_type, predicate, bytes(raw))

    def to_json(self) -> bytes:
        """Write the statement in protobuf's JSON form, without optional spaces.

        Returns:
            Compact JSON bytes: ``_type``, ``subject``, ``predicateType``, ``predicate``.

        Raises:
            StatementError: a value cannot be written as JSON.
        """
        document: dict[str, Any] = {}
        if self.type:
            document["_type"] = self.type
        if self.subjects:
            document["subject"] = [subject.to_protojson() for subject in self.subjects]
        if self.predicate_type:
            document["predicateType"] = self.predicate_type
        if self.predicate is not None:
            document["predicate"] = _json.sorted_tree(self.predicate)
        try:
            return _json.encode(document, html_safe=False).encode("utf-8")
        except ValueError as exc:
            raise StatementError(f"cannot write the statement: {exc}") from exc

    def matching_subject(self, digest: Digest) -> Subject | None:
        """Return the first subject listing ``digest``, or ``None``.

        Only the digest's own algorithm is compared (cosign compares ``sha256``); names are
        ignored, as cosign ignores them.
        """
        return next((s for s in self.subjects if s.matches(digest)), None)

    def subject_matches(self, digest: Digest) -> bool:
        """Tell whether any subject lists ``digest``.

        Args:
            digest: the verified image (or artifact) digest.

        Returns:
            ``True`` when a subject's digest set has ``digest.algorithm`` mapped to exactly
            ``digest.hex``.
        """
        return self.matching_subject(digest) is not None


def _parse_subject(item: Any, index: int) -> Subject:
    where = f"subject[{index}]"
    if not isinstance(item, dict):
        raise StatementError(f"in-toto statement {where} must be an object", field=where)
    fields = _json.proto_fields(item, _SUBJECT_FIELDS, where=where, error=StatementError)
    digests = fields.get("digest")
    if not isinstance(digests, dict) or not digests:
        raise StatementError(f"in-toto statement {where} has no digest", field=f"{where}.digest")
    if len(digests) > MAX_SUBJECT_DIGESTS:
        raise SizeLimitExceededError(
            f"in-toto statement {where} has {len(digests)} digests, more than the cap of "
            f"{MAX_SUBJECT_DIGESTS}",
            what=f"{where}.digest",
            size=len(digests),
            limit=MAX_SUBJECT_DIGESTS,
        )
    for algorithm, value in digests.items():
        if not isinstance(value, str) or not algorithm or len(value) > _MAX_TEXT_LENGTH:
            raise StatementError(
                f"in-toto statement {where}.digest must map algorithm names to hex strings",
                field=f"{where}.digest",
            )
    annotations = fields.get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        raise StatementError(
            f"in-toto statement {where}.annotations must be an object",
            field=f"{where}.annotations",
        )
    content = fields.get("content")
    return Subject(
        digest=digests,
        name=_text(fields.get("name"), f"{where}.name"),
        annotations=annotations,
        uri=_text(fields.get("uri"), f"{where}.uri"),
        download_location=_text(fields.get("downloadLocation"), f"{where}.downloadLocation"),
        media_type=_text(fields.get("mediaType"), f"{where}.mediaType"),
        content=b""
        if content is None
        else _json.decode_base64(content, field=f"{where}.content", error=StatementError),
    )


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > _MAX_TEXT_LENGTH:
        raise StatementError(f"in-toto statement {field} must be a string", field=field)
    return value


def build(digest: Digest | str, annotations: Mapping[str, Any] | None = None) -> bytes:
    """Return the statement ``cosign sign`` signs in bundle mode for ``digest``.

    In-toto v1, one subject without a name whose ``annotations`` object is always present
    (empty without annotations), predicate type :data:`COSIGN_SIGN_PREDICATE_TYPE` and an
    empty predicate — byte for byte what cosign writes when its protobuf JSON writer adds no
    spaces (see the module notes).

    Args:
        digest: the digest of the exact manifest bytes being signed.
        annotations: the ``-a key=value`` annotations.

    Returns:
        The statement bytes (the DSSE payload).

    Raises:
        InvalidDigestError: ``digest`` is a string that is not a valid digest.
        StatementError: an annotation value cannot be written as JSON.

    Example:
        >>> build(Digest.from_bytes(b"{}"))[:60]
        b'{"_type":"https://in-toto.io/Statement/v1","subject":[{"dige'
    """
    checked = digest if isinstance(digest, Digest) else Digest.parse(digest)
    subject = Subject(digest={checked.algorithm: checked.hex}, annotations=annotations or {})
    statement = Statement(STATEMENT_TYPE_V1, (subject,), COSIGN_SIGN_PREDICATE_TYPE, {})
    return statement.to_json()


def resolve_predicate_type(name_or_uri: str) -> str:
    """Map a cosign ``--type`` value to a predicate type URI, as cosign does.

    Args:
        name_or_uri: a short name from :data:`PREDICATE_TYPES` (``custom``, ``slsaprovenance``,
            ``spdxjson``, ...) or a URI, used verbatim.

    Returns:
        The predicate type URI.

    Raises:
        StatementError: the value is neither a short name nor an absolute URI (or absolute
            path), by the rules of the request-URI parser cosign uses.

    Example:
        >>> resolve_predicate_type("slsaprovenance1")
        'https://slsa.dev/provenance/v1'
    """
    known = PREDICATE_TYPES.get(name_or_uri)
    if known is not None:
        return known
    if not _is_request_uri(name_or_uri):
        shown = name_or_uri[:100]
        raise StatementError(
            f"invalid predicate type {shown!r}: not a known type name nor a URI",
            hint="use one of " + ", ".join(sorted(PREDICATE_TYPES)) + " or an absolute URI",
            field="predicateType",
        )
    return name_or_uri


def _is_request_uri(text: str) -> bool:
    # Go's url.ParseRequestURI, which cosign applies to --type values: an absolute URI or
    # an absolute path; no control characters; well-formed %-escapes in the path; a valid
    # host and numeric port when there is an authority. The query is not checked and a
    # '#' is part of the path, as in Go.
    if not text or len(text) > MAX_PREDICATE_TYPE_LENGTH:
        return False
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        return False
    rest, _, _query = text.partition("?")
    scheme = _SCHEME_RE.match(rest)
    if scheme is None:
        return rest.startswith("/") and _BAD_ESCAPE_RE.search(rest) is None
    rest = rest[scheme.end() :]
    if not rest.startswith("/"):
        return True  # an opaque URI such as urn:example:x
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        if not _valid_authority(authority):
            return False
        rest = slash + path
    return _BAD_ESCAPE_RE.search(rest) is None


def _valid_authority(authority: str) -> bool:
    userinfo, at, host = authority.rpartition("@")
    if at and _USERINFO_RE.fullmatch(userinfo) is None:
        return False
    if host.startswith("["):
        end = host.find("]") + 1
        if end == 0 or _IPV6_HOST_RE.fullmatch(host[:end]) is None:
            return False
        port = host[end:]
    else:
        colon = host.rfind(":")
        host, port = (host, "") if colon < 0 else (host[:colon], host[colon:])
        if _HOST_RE.fullmatch(host) is None or _BAD_ESCAPE_RE.search(host) is not None:
            return False
    return _PORT_RE.fullmatch(port) is not None
