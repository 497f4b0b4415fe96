"""Image references: parse, normalise and print them.

A reference is ``[registry/]path[:tag][@digest]``. The grammar is the one Docker, containerd
and cosign accept (the distribution reference grammar):

* a path is ``/``-separated components of lowercase letters and digits, joined inside a
  component by ``.``, ``_``, ``__`` or any run of ``-``; at most :data:`MAX_NAME_LENGTH`
  characters (the registry does not count);
* a registry is a host name (letters of either case, digits, inner ``-``, ``.``-separated), an
  IPv4 address or a bracketed IPv6 address, with an optional ``:port`` of digits;
* a tag is ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``;
* a digest is ``algorithm:hex``; only :data:`SUPPORTED_DIGEST_ALGORITHMS` are accepted, with
  exactly the algorithm's number of lowercase hex characters.

Two normalisations live here; pick the one whose output you will compare against.

:meth:`ImageReference.parse` (Docker's): the first component is the registry only when it
contains ``.`` or ``:``, is ``localhost``, or has an uppercase letter; otherwise the registry is
``docker.io``. ``index.docker.io`` becomes ``docker.io`` and single-component Docker Hub paths
get ``library/``, so ``nginx``, ``docker.io/nginx`` and ``index.docker.io/library/nginx`` are
all ``docker.io/library/nginx``. Use it to talk to registries and to sign or verify.

:func:`kyverno_image_info` (Kyverno's ``GetImageInfo``): the default registry is prefixed by a
similar rule, but the result is parsed without Docker's normalisation: no ``library/``,
``index.docker.io`` stays as written, and the printed form drops the tag when there is a
digest (``nginx`` is ``docker.io/nginx:latest``). Use it only where a policy's
``imageReferences`` patterns, conditions or messages must see what Kyverno sees.

Example::

    >>> ref = ImageReference.parse("nginx:1.25")
    >>> str(ref), ref.familiar
    ('docker.io/library/nginx:1.25', 'nginx:1.25')
    >>> str(kyverno_image_info("nginx:1.25"))
    'docker.io/nginx:1.25'
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import attrs

from imagesig.errors import InvalidDigestError, InvalidReferenceError

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = [
    "DEFAULT_REGISTRY",
    "DEFAULT_TAG",
    "LEGACY_DEFAULT_REGISTRY",
    "MAX_DIGEST_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_REFERENCE_LENGTH",
    "MAX_TAG_LENGTH",
    "SUPPORTED_DIGEST_ALGORITHMS",
    "Digest",
    "ImageReference",
    "KyvernoImageInfo",
    "Repository",
    "is_valid_tag",
    "kyverno_add_default_registry",
    "kyverno_image_info",
    "parse_reference",
]

#: Digest algorithms accepted anywhere, mapped to the number of hex characters they need.
SUPPORTED_DIGEST_ALGORITHMS: Final[Mapping[str, int]] = MappingProxyType(
    {"sha256": 64, "sha384": 96, "sha512": 128}
)
#: The registry of names without one (Docker Hub).
DEFAULT_REGISTRY: Final = "docker.io"
#: Docker Hub's old name, rewritten to :data:`DEFAULT_REGISTRY` by :meth:`ImageReference.parse`.
LEGACY_DEFAULT_REGISTRY: Final = "index.docker.io"
#: The tag implied by a reference with neither tag nor digest.
DEFAULT_TAG: Final = "latest"
#: Longest repository path (registry excluded), as in distribution since v0.6.0.
MAX_NAME_LENGTH: Final = 255
#: Longest tag.
MAX_TAG_LENGTH: Final = 128
#: Longest ``algorithm:hex`` text (``sha512:`` and 128 hex characters).
MAX_DIGEST_LENGTH: Final = len("sha512:") + 128
#: Longest reference text looked at; longer input is refused before any pattern runs.
MAX_REFERENCE_LENGTH: Final = 4096

_OFFICIAL_PREFIX = "library/"
_EXCERPT_LENGTH = 100

# Separators are never letters or digits, so every quantifier below has a single way to
# split its input and matching stays linear (no nested ambiguous repetition).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_PATH_COMPONENT_RE = re.compile(_PATH_COMPONENT, re.ASCII)
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*", re.ASCII)
_IPV6_RE = re.compile(r"\[[A-Fa-f0-9:]+\]", re.ASCII)
_PORT_RE = re.compile(r"[0-9]+", re.ASCII)
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
_LONG_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", re.ASCII)
_LOWER_HEX_RE = re.compile(r"[0-9a-f]+", re.ASCII)
_IDENTIFIER_RE = re.compile(r"[0-9a-f]{64}", re.ASCII)


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT_LENGTH else text[:_EXCERPT_LENGTH] + "..."


def _invalid(text: str, rule: str, detail: str) -> InvalidReferenceError:
    shown = _excerpt(text)
    return InvalidReferenceError(
        f"invalid image reference {shown!r}: {detail}", reference=shown, rule=rule
    )


def _invalid_digest(text: str, rule: str, detail: str) -> InvalidDigestError:
    shown = _excerpt(text)
    return InvalidDigestError(f"invalid digest {shown!r}: {detail}", reference=shown, rule=rule)


def is_valid_tag(text: str) -> bool:
    """Tell whether ``text`` is a valid tag.

    Args:
        text: the candidate tag, without the leading ``:``.

    Returns:
        ``True`` for 1 to 128 characters of ``[A-Za-z0-9_.-]`` not starting with ``.`` or ``-``.
    """
    return len(text) <= MAX_TAG_LENGTH and _TAG_RE.fullmatch(text) is not None


def _registry_problem(text: str) -> str | None:
    """Check the registry grammar: host name, IPv4 or ``[IPv6]``, then optional ``:port``.

    Returns:
        ``None`` when ``text`` is valid, else the rule it breaks.
    """
    if text.startswith("["):
        end = text.find("]") + 1
        host, port = (text, "") if end == 0 else (text[:end], text[end:])
        host_ok = _IPV6_RE.fullmatch(host) is not None
    else:
        colon = text.find(":")
        host, port = (text, "") if colon < 0 else (text[:colon], text[colon:])
        host_ok = _HOST_RE.fullmatch(host) is not None
    if not host_ok:
        return "invalid registry"
    if port and (port[0] != ":" or _PORT_RE.fullmatch(port[1:]) is None):
        return "invalid port" if port[0] == ":" else "invalid registry"
    return None


def _looks_like_registry(first: str) -> bool:
    """Docker's rule for reading the first ``/``-component as a registry."""
    return "." in first or ":" in first or first == "localhost" or first.lower() != first


def _check_registry(registry: str, text: str) -> None:
    problem = _registry_problem(registry)
    if problem == "invalid port":
        raise _invalid(text, problem, f"the port of registry {registry!r} must be digits")
    if problem is not None:
        raise _invalid(text, problem, f"{registry!r} is not a valid registry host[:port]")
    if not _looks_like_registry(registry):
        raise _invalid(
            text,
            "invalid registry",
            f"registry {registry!r} needs a '.', a ':port' or to be 'localhost'"
            " (otherwise it reads as a path component)",
        )


def _check_path(path: str, text: str) -> None:
    if len(path) > MAX_NAME_LENGTH:
        raise _invalid(
            text,
            "name longer than 255 characters",
            f"repository path is {len(path)} characters, more than {MAX_NAME_LENGTH}",
        )
    if _PATH_RE.fullmatch(path) is not None:
        return
    if _PATH_RE.fullmatch(path.lower()) is not None:
        raise _invalid(
            text, "uppercase repository name", f"repository name {path!r} must be lowercase"
        )
    bad = next(
        (part for part in path.split("/") if _PATH_COMPONENT_RE.fullmatch(part) is None), path
    )
    raise _invalid(
        text,
        "invalid repository name",
        f"path component {_excerpt(bad)!r} must be lowercase letters and digits joined by"
        " '.', '_', '__' or dashes",
    )


def _check_tag(tag: str, text: str) -> None:
    if is_valid_tag(tag):
        return
    if _LONG_TAG_RE.fullmatch(tag) is not None:
        raise _invalid(text, "tag too long", f"tag is {len(tag)} characters, more than 128")
    raise _invalid(
        text,
        "invalid tag",
        f"tag {_excerpt(tag)!r} must be [A-Za-z0-9_.-] and not start with '.' or '-'",
    )


def _split(text: str) -> tuple[str, str | None, Digest | None]:
    """Split ``name[:tag][@digest]``; neither tag nor digest may contain ``/`` or ``@``."""
    if not text:
        raise _invalid(text, "empty reference", "the reference is empty")
    if len(text) > MAX_REFERENCE_LENGTH:
        raise _invalid(
            text,
            "reference too long",
            f"{len(text)} characters, more than {MAX_REFERENCE_LENGTH}",
        )
    name, at, digest_text = text.partition("@")
    digest = None
    if at:
        try:
            digest = Digest.parse(digest_text)
        except InvalidDigestError as exc:
            shown = _excerpt(text)
            raise InvalidDigestError(
                f"invalid image reference {shown!r}: {exc.message}",
                reference=shown,
                rule="invalid digest",
            ) from exc
    tag = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
        if not tag:
            raise _invalid(text, "empty tag", "nothing follows the ':' before the tag")
        _check_tag(tag, text)
    if not name:
        raise _invalid(text, "empty name", "the repository name is missing")
    return name, tag, digest


def _default_registry(registry: str) -> str:
    if registry == LEGACY_DEFAULT_REGISTRY:
        return DEFAULT_REGISTRY
    if _registry_problem(registry) is not None or not _looks_like_registry(registry):
        shown = _excerpt(registry)
        raise InvalidReferenceError(
            f"invalid default registry {shown!r}: expected host[:port] with a '.' or ':port',"
            " or 'localhost'",
            reference=shown,
            rule="invalid default registry",
        )
    return registry


def _normalised_name(name: str, text: str, default_registry: str) -> tuple[str, str]:
    """Docker's registry split and Docker Hub canonicalisation of a name."""
    first, slash, rest = name.partition("/")
    if not slash or not _looks_like_registry(first):
        registry, path = default_registry, name
    else:
        registry, path = first, rest
        if registry == LEGACY_DEFAULT_REGISTRY:
            registry = DEFAULT_REGISTRY
        _check_registry(registry, text)
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = _OFFICIAL_PREFIX + path
    _check_path(path, text)
    return registry, path


def _validate_algorithm(_instance: object, _attribute: object, value: str) -> None:
    if value not in SUPPORTED_DIGEST_ALGORITHMS:
        shown = _excerpt(value)
        raise InvalidDigestError(
            f"unsupported digest algorithm {shown!r} (use one of"
            f" {', '.join(SUPPORTED_DIGEST_ALGORITHMS)})",
            reference=shown,
            rule="unsupported digest algorithm",
        )


def _validate_hex(instance: Digest, _attribute: object, value: str) -> None:
    expected = SUPPORTED_DIGEST_ALGORITHMS[instance.algorithm]
    text = f"{instance.algorithm}:{value}"
    if len(value) != expected:
        raise _invalid_digest(
            text, "wrong digest length", f"{instance.algorithm} needs {expected} hex characters"
        )
    if _LOWER_HEX_RE.fullmatch(value) is None:
        raise _invalid_digest(
            text, "digest not lowercase hex", "the encoded part must be lowercase hex"
        )


@attrs.frozen
class Digest:
    """A content digest such as ``sha256:<64 hex>``; always valid once constructed.

    Attributes:
        algorithm: one of :data:`SUPPORTED_DIGEST_ALGORITHMS`.
        hex: the lowercase hex encoding, exactly as long as the algorithm requires.

    Raises:
        InvalidDigestError: from the constructor when either part is invalid, so a
            ``Digest`` is always safe to put in a path or URL.
    """

    algorithm: str = attrs.field(validator=_validate_algorithm)
    hex: str = attrs.field(validator=_validate_hex)

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``algorithm:hex``.

        Args:
            text: the digest text; its length is checked before anything else.

        Returns:
            The digest.

        Raises:
            InvalidDigestError: the text is too long, has no ``:``, names an unsupported
                algorithm (case-sensitive: ``SHA256`` is refused), or the hex part has the
                wrong length or is not lowercase hex.
        """
        if len(text) > MAX_DIGEST_LENGTH:
            raise _invalid_digest(
                text, "digest too long", f"{len(text)} characters, more than {MAX_DIGEST_LENGTH}"
            )
        algorithm, colon, encoded = text.partition(":")
        if not colon or not algorithm:
            raise _invalid_digest(text, "missing digest algorithm", "expected 'algorithm:hex'")
        if algorithm not in SUPPORTED_DIGEST_ALGORITHMS:
            raise _invalid_digest(
                text, "unsupported digest algorithm", f"algorithm {algorithm!r} is not supported"
            )
        return cls(algorithm, encoded)

    @classmethod
    def from_hex(cls, algorithm: str, hex: str) -> Digest:
        """Build a digest from its parts, validating both.

        Args:
            algorithm: one of :data:`SUPPORTED_DIGEST_ALGORITHMS`.
            hex: the lowercase hex encoding.

        Returns:
            The digest.

        Raises:
            InvalidDigestError: either part is invalid.
        """
        return cls(algorithm, hex)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """Hash ``data``.

        Args:
            data: the content.
            algorithm: one of :data:`SUPPORTED_DIGEST_ALGORITHMS`.

        Returns:
            The digest of ``data``.

        Raises:
            InvalidDigestError: the algorithm is not supported.
        """
        _validate_algorithm(None, None, algorithm)
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> _Hash:
        """Return a new, empty :mod:`hashlib` object for this digest's algorithm."""
        return hashlib.new(self.algorithm)

    def matches(self, data: bytes) -> bool:
        """Tell, in constant time, whether ``data`` hashes to this digest.

        Args:
            data: the content to check.

        Returns:
            ``True`` when the hash of ``data`` equals :attr:`hex`.
        """
        actual = hashlib.new(self.algorithm, data).hexdigest()
        return hmac.compare_digest(actual, self.hex)

    @property
    def tag_suffix(self) -> str:
        """The digest as a tag, ``sha256-<hex>`` (cosign and the OCI referrers tag schema)."""
        return f"{self.algorithm}-{self.hex}"

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def _validate_registry(_instance: object, _attribute: object, value: str) -> None:
    _check_registry(value, value)
    if value == LEGACY_DEFAULT_REGISTRY:
        raise _invalid(value, "invalid registry", f"write {DEFAULT_REGISTRY!r}, not {value!r}")


def _validate_path(instance: Repository, _attribute: object, value: str) -> None:
    _check_path(value, value)
    if instance.registry == DEFAULT_REGISTRY and "/" not in value:
        raise _invalid(
            value,
            "invalid repository name",
            f"Docker Hub paths have a namespace; write {_OFFICIAL_PREFIX + value!r}",
        )


@attrs.frozen
class Repository:
    """A repository: registry plus path, in canonical form.

    Attributes:
        registry: ``host[:port]`` as written (case kept, like Docker); ``docker.io`` for
            Docker Hub. It must read as a registry when printed first in a name: contain ``.``
            or ``:``, be ``localhost`` or have an uppercase letter.
        path: ``/``-separated lowercase components, at most :data:`MAX_NAME_LENGTH`
            characters; on Docker Hub at least two components (``library/nginx``).

    Raises:
        InvalidReferenceError: from the constructor when the pair is not canonical, so that
            ``Repository.parse(str(repo)) == repo`` always holds.
    """

    registry: str = attrs.field(validator=_validate_registry)
    path: str = attrs.field(validator=_validate_path)

    @classmethod
    def parse(cls, text: str, *, default_registry: str = DEFAULT_REGISTRY) -> Repository:
        """Parse a repository name (no tag, no digest), normalised like Docker.

        Args:
            text: e.g. ``nginx``, ``user/app`` or ``ghcr.io/org/app``.
            default_registry: registry for names whose first component is not one.

        Returns:
            The canonical repository (``nginx`` gives ``docker.io/library/nginx``).

        Raises:
            InvalidReferenceError: the name is malformed or carries a tag or digest.
        """
        reference = ImageReference.parse(text, default_registry=default_registry)
        if reference.tag is not None or reference.digest is not None:
            raise _invalid(text, "unexpected tag or digest", "a repository name has no tag/digest")
        return reference.repository

    def with_tag(self, tag: str) -> ImageReference:
        """Return a reference to ``tag`` in this repository.

        Args:
            tag: the tag, without ``:``.

        Returns:
            ``registry/path:tag``.

        Raises:
            InvalidReferenceError: the tag is invalid.
        """
        return ImageReference(self, tag, None)

    def with_digest(self, digest: Digest | str) -> ImageReference:
        """Return a reference to ``digest`` in this repository.

        Args:
            digest: a :class:`Digest` or its ``algorithm:hex`` text.

        Returns:
            ``registry/path@digest``.

        Raises:
            InvalidDigestError: ``digest`` is a string that is not a valid digest.
        """
        return ImageReference(
            self, None, digest if isinstance(digest, Digest) else Digest.parse(digest)
        )

    @property
    def familiar_name(self) -> str:
        """Docker's short form: ``nginx``, ``user/app``, ``ghcr.io/org/app``.

        ``docker.io/`` is dropped, and ``library/`` too when one component follows it.
        """
        if self.registry != DEFAULT_REGISTRY:
            return str(self)
        rest = self.path.removeprefix(_OFFICIAL_PREFIX)
        return rest if rest != self.path and "/" not in rest else self.path

    def __str__(self) -> str:
        return f"{self.registry}/{self.path}"


def _validate_tag(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None:
        _check_tag(value, value)


@attrs.frozen
class ImageReference:
    """A canonical image reference: a repository with an optional tag and digest.

    Attributes:
        repository: the repository.
        tag: the tag, or ``None``.
        digest: the digest, or ``None``; with both, the digest is what a registry resolves.

    Raises:
        InvalidReferenceError: the tag is invalid.
    """

    repository: Repository = attrs.field(validator=attrs.validators.instance_of(Repository))
    tag: str | None = attrs.field(default=None, validator=_validate_tag)
    digest: Digest | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Digest))
    )

    @classmethod
    def parse(cls, text: str, *, default_registry: str = DEFAULT_REGISTRY) -> ImageReference:
        """Parse and normalise a reference the way Docker and containerd do.

        Args:
            text: ``[registry/]path[:tag][@digest]``; not stripped of whitespace.
            default_registry: registry for names whose first component is not one; Docker
                Hub's ``library/`` applies only when this is ``docker.io``.

        Returns:
            The canonical reference; a tag and a digest given together are both kept.

        Raises:
            InvalidReferenceError: the text breaks the grammar; ``rule`` in its context names
                the rule (``"uppercase repository name"``, ``"tag too long"``, ...).
            InvalidDigestError: the digest part is malformed.

        Note:
            Unlike Docker, a name whose first component contains ``.`` but is no valid host
            (``a_b.com/x``) is refused instead of becoming a registry-less name.
        """
        name, tag, digest = _split(text)
        if _IDENTIFIER_RE.fullmatch(text) is not None:
            raise _invalid(
                text,
                "64-character hex repository name",
                "a bare 64-character hex string is an image ID, not a name",
            )
        registry, path = _normalised_name(name, text, _default_registry(default_registry))
        return cls(Repository(registry, path), tag, digest)

    @property
    def registry(self) -> str:
        """The registry, e.g. ``docker.io``."""
        return self.repository.registry

    @property
    def path(self) -> str:
        """The repository path, e.g. ``library/nginx``."""
        return self.repository.path

    @property
    def name(self) -> str:
        """``registry/path`` without tag or digest."""
        return str(self.repository)

    @property
    def identifier(self) -> str:
        """What to ask a registry for: the digest if any, else the tag, else ``latest``."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag if self.tag is not None else DEFAULT_TAG

    @property
    def is_pinned(self) -> bool:
        """Whether the reference has a digest."""
        return self.digest is not None

    def with_digest(self, digest: Digest | str) -> ImageReference:
        """Return this reference with ``digest`` (the tag is kept, as in distribution).

        Args:
            digest: a :class:`Digest` or its ``algorithm:hex`` text.

        Returns:
            The pinned reference.

        Raises:
            InvalidDigestError: ``digest`` is a string that is not a valid digest.
        """
        checked = digest if isinstance(digest, Digest) else Digest.parse(digest)
        return ImageReference(self.repository, self.tag, checked)

    def with_tag(self, tag: str) -> ImageReference:
        """Return a reference to ``tag`` in this repository.

        Any digest is dropped (distribution's ``WithTag`` keeps it): the result names what the
        tag points to, e.g. cosign's ``sha256-<hex>.sig``.

        Args:
            tag: the tag, without ``:``.

        Returns:
            ``registry/path:tag``.

        Raises:
            InvalidReferenceError: the tag is invalid.
        """
        return ImageReference(self.repository, tag, None)

    def without_tag(self) -> ImageReference:
        """Return this reference without its tag (the digest is kept)."""
        return ImageReference(self.repository, None, self.digest)

    def without_digest(self) -> ImageReference:
        """Return this reference without its digest (the tag is kept)."""
        return ImageReference(self.repository, self.tag, None)

    def with_default_tag(self) -> ImageReference:
        """Return this reference, tagged ``latest`` if it has neither tag nor digest."""
        if self.tag is None and self.digest is None:
            return ImageReference(self.repository, DEFAULT_TAG, None)
        return self

    @property
    def familiar(self) -> str:
        """Docker's short form: ``nginx:latest``, ``user/app``, ``ghcr.io/a/b@sha256:...``."""
        return self._format(self.repository.familiar_name)

    def _format(self, name: str) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return f"{name}{tag}{digest}"

    def __str__(self) -> str:
        return self._format(str(self.repository))


def parse_reference(text: str, *, default_registry: str = DEFAULT_REGISTRY) -> ImageReference:
    """Parse and normalise an image reference; same as :meth:`ImageReference.parse`.

    Args:
        text: ``[registry/]path[:tag][@digest]``.
        default_registry: registry for names whose first component is not one.

    Returns:
        The canonical reference.

    Raises:
        InvalidReferenceError: the text breaks the grammar.
    """
    return ImageReference.parse(text, default_registry=default_registry)


@attrs.frozen
class KyvernoImageInfo:
    """One image as Kyverno's ``ImageInfo`` describes it (see :func:`kyverno_image_info`).

    Attributes:
        registry: the registry, or ``""`` when none is known.
        name: the last path component.
        path: the repository path, without ``library/`` insertion.
        tag: the tag; ``latest`` when neither tag nor digest was given, ``""`` for a
            digest-only image.
        digest: ``algorithm:hex`` or ``""``.
        reference: :meth:`__str__` as computed by Kyverno (``{{image.reference}}``).
        reference_with_tag: ``registry/path:tag`` (``{{image.referenceWithTag}}``), ending
            in ``:`` for a digest-only image.
    """

    registry: str
    name: str
    path: str
    tag: str
    digest: str
    reference: str
    reference_with_tag: str

    def to_dict(self) -> dict[str, Any]:
        """Return the fields under Kyverno's JSON names, as policy variables see them."""
        return {
            "registry": self.registry,
            "name": self.name,
            "path": self.path,
            "tag": self.tag,
            "digest": self.digest,
            "reference": self.reference,
            "referenceWithTag": self.reference_with_tag,
        }

    def __str__(self) -> str:
        image = f"{self.registry}/{self.path}" if self.registry else self.path
        return f"{image}@{self.digest}" if self.digest else f"{image}:{self.tag}"


def kyverno_add_default_registry(image: str, default_registry: str = DEFAULT_REGISTRY) -> str:
    """Prefix ``default_registry`` the way Kyverno does before parsing an image.

    Args:
        image: the image as written in the resource.
        default_registry: Kyverno's ``defaultRegistry`` setting; may contain a path.

    Returns:
        ``image`` unchanged when its first ``/``-component contains ``.`` or ``:``, is
        ``localhost`` or has an uppercase letter; otherwise ``default_registry/image``.
    """
    first, slash, _ = image.partition("/")
    if slash and _looks_like_registry(first):
        return image
    return f"{default_registry}/{image}"


def _split_plain(name: str, text: str) -> tuple[str, str]:
    """Distribution's un-normalised split: the first component is a registry if it can be."""
    first, slash, rest = name.partition("/")
    if slash and _registry_problem(first) is None and _PATH_RE.fullmatch(rest) is not None:
        _check_path(rest, text)
        return first, rest
    _check_path(name, text)
    return "", name


def kyverno_image_info(
    image: str,
    *,
    default_registry: str = DEFAULT_REGISTRY,
    enable_default_registry_mutation: bool = True,
) -> KyvernoImageInfo:
    """Describe ``image`` exactly as Kyverno's ``GetImageInfo`` does.

    The default registry is added by :func:`kyverno_add_default_registry`, then the text is
    parsed with the plain distribution grammar: no ``library/``, no ``index.docker.io``
    rewrite. When the registry was added and ``enable_default_registry_mutation`` is off,
    the registry is left empty. If the registry is then empty and the first path component
    contains ``_``, that component is moved to the registry (after ``reference`` is set).

    Args:
        image: the image as written in the resource.
        default_registry: Kyverno's ``defaultRegistry`` setting.
        enable_default_registry_mutation: Kyverno's ``enableDefaultRegistryMutation``.

    Returns:
        The image info; ``str()`` of it is what Kyverno matches ``imageReferences`` against.

    Raises:
        InvalidReferenceError: the prefixed image breaks the grammar.
    """
    full = kyverno_add_default_registry(image, default_registry)
    name, tag, digest = _split(full)
    registry, path = _split_plain(name, full)
    tag_text = tag or ("" if digest is not None else DEFAULT_TAG)
    digest_text = str(digest) if digest is not None else ""
    if full != image and not enable_default_registry_mutation:
        registry = ""
    prefix = f"{registry}/" if registry else ""
    info = KyvernoImageInfo(
        registry=registry,
        name=path.rpartition("/")[2],
        path=path,
        tag=tag_text,
        digest=digest_text,
        reference="",
        reference_with_tag=f"{prefix}{path}:{tag_text}",
    )
    info = attrs.evolve(info, reference=str(info))
    first, slash, rest = path.partition("/")
    if slash and not registry and "_" in first:
        info = attrs.evolve(info, registry=first, path=rest)
    return info
