"""Tests for imagesig.reference: the distribution grammar, Docker and Kyverno normalisation."""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import shared_dir

from imagesig.errors import InvalidDigestError, InvalidReferenceError
from imagesig.reference import (
    DEFAULT_REGISTRY,
    MAX_NAME_LENGTH,
    MAX_REFERENCE_LENGTH,
    SUPPORTED_DIGEST_ALGORITHMS,
    Digest,
    ImageReference,
    KyvernoImageInfo,
    Repository,
    is_valid_tag,
    kyverno_add_default_registry,
    kyverno_image_info,
    parse_reference,
)

F64 = "f" * 64
D256 = "sha256:" + F64
D256B = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
D384 = "sha384:" + "0a" * 48
D512 = "sha512:" + "7e" * 64

# --------------------------------------------------------------------------------------------
# Docker normalisation: (input, canonical string, familiar string). The canonical string is
# registry "/" path [":" tag] ["@" digest], so it pins every field.
# --------------------------------------------------------------------------------------------
HUB = "docker.io/library/"
VALID = [
    # familiar Docker Hub names
    ("nginx", HUB + "nginx", "nginx"),
    ("nginx:latest", HUB + "nginx:latest", "nginx:latest"),
    ("redis@" + D256B, HUB + "redis@" + D256B, "redis@" + D256B),
    ("docker.io/library/redis:latest", HUB + "redis:latest", "redis:latest"),
    ("dmcgowan/myapp", "docker.io/dmcgowan/myapp", "dmcgowan/myapp"),
    ("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest", "dmcgowan/myapp:latest"),
    ("docker.io/mcgowan/myapp:1", "docker.io/mcgowan/myapp:1", "mcgowan/myapp:1"),
    ("docker.io/dmcgowan/myapp@" + D256B, "docker.io/dmcgowan/myapp@" + D256B,
     "dmcgowan/myapp@" + D256B),
    ("dbcc1", HUB + "dbcc1", "dbcc1"),
    ("a" * 63, HUB + "a" * 63, "a" * 63),
    ("docker.io/" + F64, HUB + F64, F64),
    ("library/ubuntu", HUB + "ubuntu", "ubuntu"),
    ("nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "nonlibrary/ubuntu"),
    ("other/library", "docker.io/other/library", "other/library"),
    ("ubuntu-12.04-base", HUB + "ubuntu-12.04-base", "ubuntu-12.04-base"),
    ("docker.io/foo", HUB + "foo", "foo"),
    ("library/foo/bar", HUB + "foo/bar", "library/foo/bar"),
    ("docker.io/library/foo/bar", HUB + "foo/bar", "library/foo/bar"),
    ("store/foo/bar", "docker.io/store/foo/bar", "store/foo/bar"),
    ("docker/migrator", "docker.io/docker/migrator", "docker/migrator"),
    ("test_com/foo", "docker.io/test_com/foo", "test_com/foo"),
    ("docker-rules/docker", "docker.io/docker-rules/docker", "docker-rules/docker"),
    ("docker---rules/docker", "docker.io/docker---rules/docker", "docker---rules/docker"),
    ("d/docker", "docker.io/d/docker", "d/docker"),
    ("jess/t", "docker.io/jess/t", "jess/t"),
    ("dock__er/docker", "docker.io/dock__er/docker", "dock__er/docker"),
    ("ns/a.b_c__d-e--f", "docker.io/ns/a.b_c__d-e--f", "ns/a.b_c__d-e--f"),
    ("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
     HUB + "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
     "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"),
    # the legacy Docker Hub name is rewritten; registry-1 is not
    ("index.docker.io/fooo/bar", "docker.io/fooo/bar", "fooo/bar"),
    ("index.docker.io/debian", HUB + "debian", "debian"),
    ("index.docker.io/library/ubuntu-12.04-base", HUB + "ubuntu-12.04-base", "ubuntu-12.04-base"),
    ("registry-1.docker.io/library/nginx", "registry-1.docker.io/library/nginx",
     "registry-1.docker.io/library/nginx"),
    # host:port-looking text without a '/' is a name and a tag
    ("test.com:tag", HUB + "test.com:tag", "test.com:tag"),
    ("test.com:5000", HUB + "test.com:5000", "test.com:5000"),
    ("foo_bar.com:8080", HUB + "foo_bar.com:8080", "foo_bar.com:8080"),
    ("192.168.0.1", HUB + "192.168.0.1", "192.168.0.1"),
    ("192.168.1.1:5000", HUB + "192.168.1.1:5000", "192.168.1.1:5000"),
    ("localhost", HUB + "localhost", "localhost"),
    ("localhost:5000", HUB + "localhost:5000", "localhost:5000"),
    ("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080", "foo/foo_bar.com:8080"),
    # registries: the first component has '.' or ':', is localhost or has uppercase
    ("localhost/fooo", "localhost/fooo", "localhost/fooo"),
    ("localhost/fooo/bar", "localhost/fooo/bar", "localhost/fooo/bar"),
    ("localhost:5000/foo:v1", "localhost:5000/foo:v1", "localhost:5000/foo:v1"),
    ("LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo"),
    ("LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar"),
    ("Foo/bar", "Foo/bar", "Foo/bar"),
    ("FOO/bar", "FOO/bar", "FOO/bar"),
    ("Docker/docker", "Docker/docker", "Docker/docker"),
    ("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase",
     "127.0.0.1:8000/private/moonbase"),
    ("127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase"),
    ("example.com/private/moonbase", "example.com/private/moonbase",
     "example.com/private/moonbase"),
    ("example.com:8000/privatebasee", "example.com:8000/privatebasee",
     "example.com:8000/privatebasee"),
    ("test.com/foo", "test.com/foo", "test.com/foo"),
    ("test.com:8080/foo", "test.com:8080/foo", "test.com:8080/foo"),
    ("test-com:8080/foo", "test-com:8080/foo", "test-com:8080/foo"),
    ("test:5000/repo", "test:5000/repo", "test:5000/repo"),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com",
     "xn--n3h.com/myimage:xn--n3h.com"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo"),
    ("xn--7o8h.com/myimage:xn--7o8h.com@" + D256, "xn--7o8h.com/myimage:xn--7o8h.com@" + D256,
     "xn--7o8h.com/myimage:xn--7o8h.com@" + D256),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
     "sub-dom1.foo.com/bar/baz/quux:some-long-tag"),
    ("b.gcr.io/test.example.com/my-app:test.example.com",
     "b.gcr.io/test.example.com/my-app:test.example.com",
     "b.gcr.io/test.example.com/my-app:test.example.com"),
    ("gcr.io/library/busybox", "gcr.io/library/busybox", "gcr.io/library/busybox"),
    ("192.168.0.1:8/debian", "192.168.0.1:8/debian", "192.168.0.1:8/debian"),
    ("192.168.1.1/repo", "192.168.1.1/repo", "192.168.1.1/repo"),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050"),
    ("example.com:99999/repo", "example.com:99999/repo", "example.com:99999/repo"),
    # IPv6
    ("[fc00::1]:5000/docker", "[fc00::1]:5000/docker", "[fc00::1]:5000/docker"),
    ("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
     "[fc00:1:2:3:4:5:6:7]:5000/library/debian"),
    ("[2001:db8::1]/repo", "[2001:db8::1]/repo", "[2001:db8::1]/repo"),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo:tag",
     "[2001:db8:1:2:3:4:5:6]/repo:tag"),
    ("[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo"),
    ("[::1]:5000/repo", "[::1]:5000/repo", "[::1]:5000/repo"),
    ("[2001:db8::1]:5000/repo:tag@" + D256, "[2001:db8::1]:5000/repo:tag@" + D256,
     "[2001:db8::1]:5000/repo:tag@" + D256),
    # tags and digests
    ("lowercase:Uppercase", HUB + "lowercase:Uppercase", "lowercase:Uppercase"),
    ("nginx:_tag", HUB + "nginx:_tag", "nginx:_tag"),
    ("nginx:1.25.3-alpine_x", HUB + "nginx:1.25.3-alpine_x", "nginx:1.25.3-alpine_x"),
    ("nginx:" + "t" * 128, HUB + "nginx:" + "t" * 128, "nginx:" + "t" * 128),
    ("busybox:latest@" + D256B, HUB + "busybox:latest@" + D256B, "busybox:latest@" + D256B),
    ("test:5000/repo@" + D256, "test:5000/repo@" + D256, "test:5000/repo@" + D256),
    ("test:5000/repo:tag@" + D256, "test:5000/repo:tag@" + D256, "test:5000/repo:tag@" + D256),
    ("ghcr.io/a/b@" + D384, "ghcr.io/a/b@" + D384, "ghcr.io/a/b@" + D384),
    ("ghcr.io/a/b:v1@" + D512, "ghcr.io/a/b:v1@" + D512, "ghcr.io/a/b:v1@" + D512),
    # length: the registry does not count, library/ does
    ("example.com/" + "a" * 255 + ":tag", "example.com/" + "a" * 255 + ":tag",
     "example.com/" + "a" * 255 + ":tag"),
    ("a/" * 127 + "a:over-max", "docker.io/" + "a/" * 127 + "a:over-max",
     "a/" * 127 + "a:over-max"),
    ("a" * 247, HUB + "a" * 247, "a" * 247),
]  # fmt: skip


@pytest.mark.parametrize(("text", "canonical", "familiar"), VALID)
def test_parse_normalises_like_docker(text: str, canonical: str, familiar: str) -> None:
    registry, _, rest = canonical.partition("/")
    rest, _, digest = rest.partition("@")
    path, _, tag = rest.partition(":")
    ref = ImageReference.parse(text)
    assert (ref.registry, ref.path, ref.tag) == (registry, path, tag or None)
    assert (str(ref.digest) if ref.digest else "") == digest
    assert str(ref) == canonical
    assert ref.familiar == familiar
    assert ImageReference.parse(str(ref)) == ref
    if ref.familiar != F64:  # a bare 64-hex familiar name reads as an image ID, as in Docker
        assert ImageReference.parse(ref.familiar) == ref


INVALID = [
    ("", "empty reference"),
    ("x" * (MAX_REFERENCE_LENGTH + 1), "reference too long"),
    (":justtag", "empty name"),
    ("@" + D256, "empty name"),
    ("nginx:", "empty tag"),
    ("example.com/x:", "empty tag"),
    ("Uppercase:tag", "uppercase repository name"),
    ("test:5000/Uppercase/lowercase:tag", "uppercase repository name"),
    ("docker/Docker", "uppercase repository name"),
    ("docker.io/docker/Docker", "uppercase repository name"),
    ("NGINX", "uppercase repository name"),
    ("domain.com/" + "a" * 256 + ":tag", "name longer than 255 characters"),
    ("a" * 248, "name longer than 255 characters"),
    ("ns" * 130 + "/docker", "name longer than 255 characters"),
    (F64, "64-character hex repository name"),
    ("aa/asdf$$^/aa", "invalid repository name"),
    ("-docker", "invalid repository name"),
    ("-docker/docker", "invalid repository name"),
    ("docker-/docker", "invalid repository name"),
    ("-docker-/docker", "invalid repository name"),
    ("____/____", "invalid repository name"),
    ("_docker/_docker", "invalid repository name"),
    ("ns/dock..er", "invalid repository name"),
    ("ns/dock_.er", "invalid repository name"),
    ("ns/dock-.er", "invalid repository name"),
    ("dock..er/docker", "invalid registry"),  # a '.' makes the first component a registry
    ("dock_.er/docker", "invalid registry"),
    ("dock-.er/docker", "invalid registry"),
    ("dock___er/docker", "invalid repository name"),
    ("docker///docker", "invalid repository name"),
    ("docker.io/docker///docker", "invalid repository name"),
    ("docker/", "invalid repository name"),
    ("docker.io/", "invalid repository name"),
    ("/nginx", "invalid repository name"),
    ("ngin x", "invalid repository name"),
    (" nginx", "invalid repository name"),
    ("nginx\n", "invalid repository name"),
    ("[fc00::1]:5000", "invalid repository name"),
    ("[2001:db8::1]:5000", "invalid repository name"),
    ("\uff4eginx", "invalid repository name"),
    ("-docker.io/docker/docker", "invalid registry"),
    ("exa_mple.com/foo", "invalid registry"),
    ("ex..ample.com/foo", "invalid registry"),
    ("example-.com/foo", "invalid registry"),
    ("[fe80::1%eth0]:5000/debian", "invalid registry"),
    ("[2001:db8:3:4::192.0.2.33]:5000/debian", "invalid registry"),
    ("[::1]x/repo", "invalid registry"),
    ("[::1/repo", "invalid registry"),
    ("Ünïcode/foo", "invalid registry"),
    ("https://github.com/docker/docker", "invalid port"),
    ("fc00::1:5000/debian", "invalid port"),
    ("example.com:/foo", "invalid port"),
    ("example.com:-1/foo", "invalid port"),
    ("example.com:80a/foo", "invalid port"),
    ("[::1]:/repo", "invalid port"),
    ("[fc00::1]", "invalid tag"),
    ("[2001:db8::1]:tag", "invalid repository name"),
    ("nginx:-tag", "invalid tag"),
    ("nginx:.tag", "invalid tag"),
    ("nginx:tag\n", "invalid tag"),
    ("nginx:tåg", "invalid tag"),
    ("nginx:١٢", "invalid tag"),
    ("nginx:a+b", "invalid tag"),
    ("nginx:" + "t" * 129, "tag too long"),
    ("repo@sha256:" + "f" * 34, "invalid digest"),
    ("validname@invaliddigest:" + F64, "invalid digest"),
    ("nginx@sha256:" + "F" * 64, "invalid digest"),
    ("nginx@SHA256:" + F64, "invalid digest"),
    ("nginx@sha256:../x", "invalid digest"),
    ("nginx@sha256:../../../../tmp/x", "invalid digest"),
    ("nginx@sha256:zz", "invalid digest"),
    ("nginx@md5:" + "f" * 32, "invalid digest"),
    ("nginx@sha512:" + F64, "invalid digest"),
    ("nginx@sha256:" + "f" * 65, "invalid digest"),
    ("nginx@sha256:" + "f" * 4000, "invalid digest"),
    ("nginx@", "invalid digest"),
    ("nginx:tag@", "invalid digest"),
    ("nginx@" + F64, "invalid digest"),
    ("nginx@" + D256 + "@" + D256, "invalid digest"),
    ("[fe80::1%@invalidzone]:5000/repo", "invalid digest"),
]


@pytest.mark.parametrize(("text", "rule"), INVALID)
def test_parse_rejects_with_named_rule(text: str, rule: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        ImageReference.parse(text)
    assert info.value.context["rule"] == rule
    assert info.value.context["reference"] == (text if len(text) <= 100 else text[:100] + "...")
    assert isinstance(info.value, ValueError)
    if rule == "invalid digest":
        assert isinstance(info.value, InvalidDigestError)


def test_uppercase_error_names_the_repository() -> None:
    with pytest.raises(InvalidReferenceError, match="must be lowercase"):
        ImageReference.parse("ghcr.io/Org/App:v1")


def test_error_message_shows_input_truncated() -> None:
    with pytest.raises(InvalidReferenceError) as info:
        ImageReference.parse("a/" * 300 + "B")
    assert len(info.value.context["reference"]) == 103
    assert len(info.value.message) < 300


# --------------------------------------------------------------------------------------------
# Reference operations
# --------------------------------------------------------------------------------------------


def test_identifier_prefers_digest_then_tag_then_latest() -> None:
    assert ImageReference.parse("nginx").identifier == "latest"
    assert ImageReference.parse("nginx:1.25").identifier == "1.25"
    assert ImageReference.parse("nginx:1.25@" + D256).identifier == D256


def test_with_digest_keeps_tag_and_accepts_text() -> None:
    ref = ImageReference.parse("ghcr.io/org/app:v1")
    pinned = ref.with_digest(D256)
    assert str(pinned) == "ghcr.io/org/app:v1@" + D256
    assert pinned.is_pinned
    assert not ref.is_pinned
    assert ref.with_digest(Digest.parse(D256)) == pinned
    with pytest.raises(InvalidDigestError):
        ref.with_digest("sha256:../x")


def test_with_tag_drops_digest_and_validates() -> None:
    ref = ImageReference.parse("ghcr.io/org/app:v1@" + D256)
    sig = ref.with_tag(Digest.parse(D256).tag_suffix + ".sig")
    assert str(sig) == f"ghcr.io/org/app:sha256-{F64}.sig"
    assert sig.digest is None
    with pytest.raises(InvalidReferenceError) as info:
        ref.with_tag("bad tag")
    assert info.value.context["rule"] == "invalid tag"


def test_without_tag_and_without_digest() -> None:
    ref = ImageReference.parse("nginx:1@" + D256)
    assert str(ref.without_tag()) == "docker.io/library/nginx@" + D256
    assert str(ref.without_digest()) == "docker.io/library/nginx:1"
    assert str(ref.without_tag().without_digest()) == "docker.io/library/nginx"


def test_with_default_tag_only_for_bare_names() -> None:
    assert str(ImageReference.parse("nginx").with_default_tag()) == "docker.io/library/nginx:latest"
    digested = ImageReference.parse("nginx@" + D256)
    assert digested.with_default_tag() is digested
    tagged = ImageReference.parse("nginx:1")
    assert tagged.with_default_tag() is tagged


def test_name_registry_path_properties() -> None:
    ref = ImageReference.parse("localhost:5000/team/app:v2")
    assert ref.name == "localhost:5000/team/app"
    assert ref.registry == "localhost:5000"
    assert ref.path == "team/app"
    assert ref.repository.familiar_name == "localhost:5000/team/app"


def test_parse_reference_is_an_alias() -> None:
    assert parse_reference("nginx") == ImageReference.parse("nginx")


def test_other_default_registry_gets_no_library_prefix() -> None:
    ref = ImageReference.parse("nginx", default_registry="gcr.io")
    assert str(ref) == "gcr.io/nginx"
    assert ref.familiar == "gcr.io/nginx"
    assert str(ImageReference.parse("team/app", default_registry="localhost:5000")) == (
        "localhost:5000/team/app"
    )
    assert str(ImageReference.parse("quay.io/x/y", default_registry="gcr.io")) == "quay.io/x/y"
    assert ImageReference.parse("nginx", default_registry="index.docker.io").path == "library/nginx"


@pytest.mark.parametrize("registry", ["gcr", "", "gcr.io/path", "a_b.io", "host:port"])
def test_invalid_default_registry_is_refused(registry: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        ImageReference.parse("nginx", default_registry=registry)
    assert info.value.context["rule"] == "invalid default registry"


def test_repository_parse() -> None:
    assert Repository.parse("nginx") == Repository("docker.io", "library/nginx")
    assert str(Repository.parse("localhost:5000/foo")) == "localhost:5000/foo"
    assert Repository.parse("user/app").familiar_name == "user/app"
    assert Repository.parse("ghcr.io/x/y").familiar_name == "ghcr.io/x/y"
    assert Repository.parse("docker.io/library/a/b").familiar_name == "library/a/b"
    for text in ("nginx:latest", "nginx@" + D256, "localhost:5000/foo:1"):
        with pytest.raises(InvalidReferenceError) as info:
            Repository.parse(text)
        assert info.value.context["rule"] == "unexpected tag or digest"


def test_repository_builds_references() -> None:
    repo = Repository.parse("ghcr.io/org/app")
    assert str(repo.with_tag("v1")) == "ghcr.io/org/app:v1"
    assert str(repo.with_digest(D256)) == "ghcr.io/org/app@" + D256
    assert repo.with_digest(Digest.parse(D256)) == repo.with_digest(D256)


@pytest.mark.parametrize(
    ("registry", "path"),
    [
        ("docker.io", "nginx"),  # Docker Hub needs library/
        ("index.docker.io", "library/nginx"),  # legacy alias
        ("foo", "bar"),  # would print as a path component
        ("", "nginx"),
        ("ghcr.io", "Org/app"),
        ("ghcr.io", "a//b"),
        ("ghcr.io", "a" * 256),
        ("ghcr.io:x", "a"),
        ("ghcr.io/x", "a"),
    ],
)
def test_repository_constructor_requires_canonical_form(registry: str, path: str) -> None:
    with pytest.raises(InvalidReferenceError):
        Repository(registry, path)


def test_reference_constructor_validates() -> None:
    repo = Repository("ghcr.io", "org/app")
    assert str(ImageReference(repo, "v1", Digest.parse(D256))) == f"ghcr.io/org/app:v1@{D256}"
    with pytest.raises(InvalidReferenceError):
        ImageReference(repo, "", None)
    with pytest.raises(InvalidReferenceError):
        ImageReference(repo, "-x", None)
    with pytest.raises(TypeError):
        ImageReference(repo, None, D256)  # type: ignore[arg-type]


def test_references_are_hashable_values() -> None:
    refs = {ImageReference.parse("nginx"), ImageReference.parse("docker.io/library/nginx")}
    assert len(refs) == 1


@pytest.mark.parametrize(
    ("tag", "valid"),
    [
        ("latest", True),
        ("v1.2.3-rc.1_x", True),
        ("_x", True),
        ("X", True),
        ("0", True),
        ("t" * 128, True),
        ("t" * 129, False),
        ("", False),
        (".x", False),
        ("-x", False),
        ("a/b", False),
        ("a:b", False),
        ("a@b", False),
        ("é", False),
        ("x\n", False),
    ],
)
def test_is_valid_tag(tag: str, valid: bool) -> None:
    assert is_valid_tag(tag) is valid


# --------------------------------------------------------------------------------------------
# Digest
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", sorted(SUPPORTED_DIGEST_ALGORITHMS))
def test_digest_from_bytes_matches_hashlib(algorithm: str) -> None:
    data = b"hello imagesig"
    digest = Digest.from_bytes(data, algorithm)
    expected = hashlib.new(algorithm, data).hexdigest()
    assert digest.hex == expected
    assert len(digest.hex) == SUPPORTED_DIGEST_ALGORITHMS[algorithm]
    assert str(digest) == f"{algorithm}:{expected}"
    assert digest.tag_suffix == f"{algorithm}-{expected}"
    assert Digest.parse(str(digest)) == digest
    assert Digest.from_hex(algorithm, expected) == digest
    assert digest.matches(data)
    assert not digest.matches(data + b"!")
    hasher = digest.hasher()
    hasher.update(data)
    assert hasher.hexdigest() == expected
    assert digest.hasher() is not digest.hasher()


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("sha256:../x", "wrong digest length"),
        ("sha256:" + "../" * 21 + "x", "digest not lowercase hex"),
        ("sha256:" + "F" * 64, "digest not lowercase hex"),
        ("sha256:" + "g" * 64, "digest not lowercase hex"),
        ("sha256:" + "f" * 63 + "\n", "digest not lowercase hex"),
        ("sha256:" + "f" * 63, "wrong digest length"),
        ("sha256:", "wrong digest length"),
        ("sha384:" + F64, "wrong digest length"),
        ("SHA256:" + F64, "unsupported digest algorithm"),
        ("md5:" + "f" * 32, "unsupported digest algorithm"),
        ("sha256+b64:" + F64, "unsupported digest algorithm"),
        (F64, "missing digest algorithm"),
        (":" + F64, "missing digest algorithm"),
        ("", "missing digest algorithm"),
        ("sha256:" + "f" * 200, "digest too long"),
        ("sha256:" + "f" * 1_000_000, "digest too long"),
    ],
)
def test_digest_parse_rejects(text: str, rule: str) -> None:
    with pytest.raises(InvalidDigestError) as info:
        Digest.parse(text)
    assert info.value.context["rule"] == rule
    assert len(info.value.context["reference"]) <= 103


@pytest.mark.parametrize(
    ("algorithm", "hex_"),
    [("sha256", "../x"), ("sha256", "F" * 64), ("md5", "f" * 32), ("sha256", "f" * 63), ("", "")],
)
def test_digest_constructor_validates(algorithm: str, hex_: str) -> None:
    with pytest.raises(InvalidDigestError):
        Digest(algorithm, hex_)
    with pytest.raises(InvalidDigestError):
        Digest.from_hex(algorithm, hex_)


def test_digest_from_bytes_rejects_unknown_algorithm() -> None:
    with pytest.raises(InvalidDigestError):
        Digest.from_bytes(b"x", "md5")


# --------------------------------------------------------------------------------------------
# Hostile input finishes quickly
# --------------------------------------------------------------------------------------------

ADVERSARIAL = [
    "a" + "-" * 4000 + "!",
    "a" + "_." * 2000,
    "a-" * 2000 + "!",
    "a." * 2000 + "/x",
    "A-" * 2000 + "/x",
    "a/" * 2000 + "A",
    "a" * 4000 + ":" + "-" * 90,
    "x.io/" + "a-" * 2000 + "-",
    "[" + ":" * 4000 + "/x",
    "a" * 3000 + "@sha256:" + "f" * 1000,
    "localhost:" + "9" * 4000 + "/x!",
    "a:" + "b" * 4000,
    "x" * 10_000_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda text: f"{text[:12]}..{len(text)}")
def test_adversarial_input_is_rejected_fast(text: str) -> None:
    start = time.perf_counter()
    for _ in range(10):
        with pytest.raises(InvalidReferenceError):
            ImageReference.parse(text)
        with pytest.raises(InvalidReferenceError):
            kyverno_image_info(text)
    assert time.perf_counter() - start < 3.0


def test_one_megabyte_digest_is_rejected_fast() -> None:
    text = "sha256:" + "f" * 1_000_000
    start = time.perf_counter()
    for _ in range(1000):
        with pytest.raises(InvalidDigestError):
            Digest.parse(text)
    assert time.perf_counter() - start < 3.0


# --------------------------------------------------------------------------------------------
# Kyverno's normalisation
# --------------------------------------------------------------------------------------------

KYVERNO = [
    # (image, default registry, mutation, registry, path, name, tag, digest, str, referenceWithTag)
    (
        "index.docker.io/busybox:v1",
        "docker.io",
        True,
        "index.docker.io",
        "busybox",
        "busybox",
        "v1",
        "",
        "index.docker.io/busybox:v1",
        "index.docker.io/busybox:v1",
    ),
    (
        "docker.io/library/nginx",
        "docker.io",
        True,
        "docker.io",
        "library/nginx",
        "nginx",
        "latest",
        "",
        "docker.io/library/nginx:latest",
        "docker.io/library/nginx:latest",
    ),
    (
        "ghcr.io/org/app:v1@" + D256,
        "docker.io",
        True,
        "ghcr.io",
        "org/app",
        "app",
        "v1",
        D256,
        "ghcr.io/org/app@" + D256,
        "ghcr.io/org/app:v1",
    ),
    (
        "nginx@" + D256,
        "docker.io",
        True,
        "docker.io",
        "nginx",
        "nginx",
        "",
        D256,
        "docker.io/nginx@" + D256,
        "docker.io/nginx:",
    ),
    (
        "Foo/bar",
        "docker.io",
        True,
        "Foo",
        "bar",
        "bar",
        "latest",
        "",
        "Foo/bar:latest",
        "Foo/bar:latest",
    ),
    (
        "localhost/netd:v0.4.4-gke.0",
        "docker.io",
        True,
        "localhost",
        "netd",
        "netd",
        "v0.4.4-gke.0",
        "",
        "localhost/netd:v0.4.4-gke.0",
        "localhost/netd:v0.4.4-gke.0",
    ),
    (
        "a/b/c",
        "docker.io",
        True,
        "docker.io",
        "a/b/c",
        "c",
        "latest",
        "",
        "docker.io/a/b/c:latest",
        "docker.io/a/b/c:latest",
    ),
    # a first component with '.' that is no valid host becomes a registry by the '_' rule
    (
        "a_b.com/x",
        "docker.io",
        True,
        "a_b.com",
        "x",
        "x",
        "latest",
        "",
        "a_b.com/x:latest",
        "a_b.com/x:latest",
    ),
    (
        "test_x/nginx",
        "gcr.io",
        False,
        "test_x",
        "nginx",
        "nginx",
        "latest",
        "",
        "test_x/nginx:latest",
        "test_x/nginx:latest",
    ),
    (
        "test/nginx:v10.3",
        "123456789012.dkr.ecr.eu-west-3.amazonaws.com/docker",
        True,
        "123456789012.dkr.ecr.eu-west-3.amazonaws.com",
        "docker/test/nginx",
        "nginx",
        "v10.3",
        "",
        "123456789012.dkr.ecr.eu-west-3.amazonaws.com/docker/test/nginx:v10.3",
        "123456789012.dkr.ecr.eu-west-3.amazonaws.com/docker/test/nginx:v10.3",
    ),
    (
        "test/nginx:v10.3",
        "123456789012.dkr.ecr.eu-west-3.amazonaws.com/docker",
        False,
        "",
        "docker/test/nginx",
        "nginx",
        "v10.3",
        "",
        "docker/test/nginx:v10.3",
        "docker/test/nginx:v10.3",
    ),
    (
        "ghcr.io/org/app",
        "docker.io",
        False,
        "ghcr.io",
        "org/app",
        "app",
        "latest",
        "",
        "ghcr.io/org/app:latest",
        "ghcr.io/org/app:latest",
    ),
]


@pytest.mark.parametrize(
    ("image", "default", "mutation", "registry", "path", "name", "tag", "digest", "string", "rwt"),
    KYVERNO,
)
def test_kyverno_image_info(
    image: str,
    default: str,
    mutation: bool,
    registry: str,
    path: str,
    name: str,
    tag: str,
    digest: str,
    string: str,
    rwt: str,
) -> None:
    info = kyverno_image_info(
        image, default_registry=default, enable_default_registry_mutation=mutation
    )
    assert (info.registry, info.path, info.name, info.tag, info.digest) == (
        registry,
        path,
        name,
        tag,
        digest,
    )
    assert str(info) == string
    assert info.reference == string
    assert info.reference_with_tag == rwt
    assert info.to_dict()["referenceWithTag"] == rwt


@pytest.mark.parametrize(
    "image", ["++", "", "Nginx", "nginx:", "docker.io/Foo", "nginx@sha256:abc", " nginx", "a//b"]
)
def test_kyverno_image_info_rejects(image: str) -> None:
    with pytest.raises(InvalidReferenceError):
        kyverno_image_info(image)


def test_kyverno_and_docker_differ_on_purpose() -> None:
    assert str(kyverno_image_info("nginx")) == "docker.io/nginx:latest"
    assert str(ImageReference.parse("nginx").with_default_tag()) == "docker.io/library/nginx:latest"
    ref = "ghcr.io/org/app:v1@" + D256
    assert str(kyverno_image_info(ref)) == "ghcr.io/org/app@" + D256
    assert str(ImageReference.parse(ref)) == ref


# --------------------------------------------------------------------------------------------
# Kyverno's own test tables, read from the shared vectors
# --------------------------------------------------------------------------------------------

MATCHING_TABLES = shared_dir() / "vectors" / "kyverno" / "matching-tables.yaml"


def _tables() -> dict[str, Any]:
    if not MATCHING_TABLES.is_file():
        return {}
    with MATCHING_TABLES.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


TABLES = _tables()
_MISSING = pytest.mark.skip(reason=f"{MATCHING_TABLES} not found")


def _cases(section: str, key: str = "cases") -> list[Any]:
    if not TABLES:
        return [pytest.param(None, marks=_MISSING)]
    return [pytest.param(case, id=str(index)) for index, case in enumerate(TABLES[section][key])]


@pytest.mark.parametrize("case", _cases("image_normalization"))
def test_kyverno_table_image_normalization(case: dict[str, Any]) -> None:
    info = kyverno_image_info(
        case["input"],
        default_registry=case["defaultRegistry"],
        enable_default_registry_mutation=case["enableDefaultRegistryMutation"],
    )
    expect = case["expect"]
    assert info.registry == expect["registry"]
    assert info.path == expect["path"]
    assert info.name == expect["name"]
    assert info.tag == expect["tag"]
    assert info.digest == expect["digest"]
    assert str(info) == expect["string"]


@pytest.mark.parametrize("case", _cases("reference_fields"))
def test_kyverno_table_reference_fields(case: dict[str, Any]) -> None:
    info = kyverno_image_info(
        case["input"],
        default_registry=case["defaultRegistry"],
        enable_default_registry_mutation=case["enableDefaultRegistryMutation"],
    )
    assert info.reference == case["expect"]["reference"]
    assert info.reference_with_tag == case["expect"]["referenceWithTag"]


@pytest.mark.parametrize("case", _cases("add_default_registry"))
def test_kyverno_table_add_default_registry(case: dict[str, Any]) -> None:
    prefixed = kyverno_add_default_registry(case["input"], case["defaultRegistry"])
    assert prefixed == case["expectWithRegistryPrefix"]
    kyverno_image_info(case["input"], default_registry=case["defaultRegistry"])  # parses


@pytest.mark.parametrize("image", _cases("parse_errors", "inputs"))
def test_kyverno_table_parse_errors(image: str) -> None:
    with pytest.raises(InvalidReferenceError):
        kyverno_image_info(image)


def _resolve_pointer(document: Any, pointer: str) -> Any:
    for token in pointer.split("/")[1:]:
        key = token.replace("~1", "/").replace("~0", "~")
        document = document[int(key)] if isinstance(document, list) else document[key]
    return document


_TRIM_PREFIX = re.compile(r"trim_prefix\(@,\s*'([^']*)'\)")


def _extracted_images() -> list[Any]:
    if not TABLES:
        return [pytest.param(None, None, marks=_MISSING)]
    params = []
    for case in TABLES["extraction"]["cases"]:
        transforms = [
            extractor.get("jmesPath")
            for extractors in case.get("imageExtractors", {}).values()
            for extractor in extractors
        ]
        for group, entries in case["expect"].items():
            for key, expected in entries.items():
                image = _resolve_pointer(case["resource"], expected["pointer"])
                for transform in filter(None, transforms):
                    match = _TRIM_PREFIX.fullmatch(transform)
                    assert match, f"unsupported jmesPath in table: {transform}"
                    image = image.removeprefix(match.group(1))
                params.append(pytest.param(image, expected, id=f"{group}/{key}"))
    return params


@pytest.mark.parametrize(("image", "expected"), _extracted_images())
def test_kyverno_table_extraction(image: str, expected: dict[str, str]) -> None:
    fields = kyverno_image_info(image).to_dict()
    checked = {name: value for name, value in expected.items() if name != "pointer"}
    assert checked
    assert {name: fields[name] for name in checked} == checked


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_COMPONENT = st.from_regex(r"[a-z0-9]{1,6}(?:(?:[._]|__|-{1,3})[a-z0-9]{1,4}){0,2}", fullmatch=True)
_LABEL = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,5}[A-Za-z0-9])?", fullmatch=True)
_REGISTRY = st.one_of(
    st.just("localhost"),
    st.builds(lambda a, b: f"{a}.{b}", _LABEL, _LABEL),
    st.builds(lambda a, p: f"{a}:{p}", _LABEL, st.integers(0, 99999)),
    st.builds(
        lambda a, b: f"[{a}:{b}]",
        st.from_regex(r"[0-9a-f:]{0,8}", fullmatch=True),
        st.from_regex(r"[0-9a-f]{0,4}", fullmatch=True),
    ),
    st.builds(
        lambda a, p: f"[::{a}]:{p}",
        st.from_regex(r"[0-9a-f]{1,4}", fullmatch=True),
        st.integers(0, 65535),
    ),
    st.from_regex(r"[A-Z][A-Za-z0-9]{0,6}", fullmatch=True),
)
_TAG = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_DIGEST = st.builds(
    lambda algorithm, seed: Digest.from_bytes(seed, algorithm),
    st.sampled_from(sorted(SUPPORTED_DIGEST_ALGORITHMS)),
    st.binary(max_size=8),
)


@st.composite
def _reference_texts(draw: st.DrawFn) -> str:
    registry = draw(st.one_of(st.none(), _REGISTRY))
    components = draw(st.lists(_COMPONENT, min_size=1, max_size=4))
    if registry is None and len(components) > 1 and "." in components[0]:
        registry = "docker.io"  # otherwise the first component would be read as a registry
    path = "/".join(components)
    text = f"{registry}/{path}" if registry else path
    tag = draw(st.one_of(st.none(), _TAG))
    digest = draw(st.one_of(st.none(), _DIGEST))
    return text + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


@given(_reference_texts())
def test_property_canonical_string_round_trips(text: str) -> None:
    ref = ImageReference.parse(text)
    canonical = str(ref)
    again = ImageReference.parse(canonical)
    assert again == ref
    assert str(again) == canonical
    if ref.registry != DEFAULT_REGISTRY or "." not in ref.path.split("/")[0]:
        # Docker's familiar form loses the registry of docker.io/a.b/c; so do we.
        assert ImageReference.parse(ref.familiar) == ref
    assert len(ref.path) <= MAX_NAME_LENGTH


@given(_DIGEST)
def test_property_digest_round_trips(digest: Digest) -> None:
    assert Digest.parse(str(digest)) == digest
    assert Digest(digest.algorithm, digest.hex) == digest


_PIECES = [
    "a", "b", "z", "0", "9", "A", "Q", ":", "/", "@", ".", "_", "__", "-", "--", "[", "]", "%",
    "::1", "localhost", "docker.io", "index.docker.io", "library", "sha256:", "sha512:", F64,
    "F" * 64, "5000", " ", "\n", "é", "+",
]  # fmt: skip
_GARBAGE = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(_PIECES), max_size=14).map("".join),
)


@settings(max_examples=400)
@given(_GARBAGE)
def test_property_garbage_raises_only_invalid_reference(text: str) -> None:
    for parse in (ImageReference.parse, kyverno_image_info, Repository.parse, Digest.parse):
        with contextlib.suppress(InvalidReferenceError):
            parse(text)


# The grammar written out as one expression, the way distribution's regexp.go composes it;
# used as an independent oracle for the split-based parser.
_ALNUM = "[a-z0-9]+"
_SEPARATOR = "(?:[_.]|__|[-]+)"
_PATH_COMPONENT = f"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE = f"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = f"{_HOST}(?::[0-9]+)?"
_ORACLE_REFERENCE = re.compile(
    rf"((?:{_DOMAIN}/)?{_REMOTE})(?::([\w][\w.-]{{0,127}}))?"
    r"(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?",
    re.ASCII,
)
_ORACLE_NAME = re.compile(f"(?:({_DOMAIN})/)?({_REMOTE})", re.ASCII)


def _oracle_plain(text: str) -> tuple[str, str, str | None, str | None] | None:
    """distribution's Parse: (domain, path, tag, digest) or None."""
    match = _ORACLE_REFERENCE.fullmatch(text)
    if match is None:
        return None
    name = _ORACLE_NAME.fullmatch(match.group(1))
    assert name is not None
    domain, path = name.group(1) or "", name.group(2)
    if len(path) > 255:
        return None
    digest = match.group(3)
    if digest is not None:
        algorithm, _, encoded = digest.partition(":")
        size = SUPPORTED_DIGEST_ALGORITHMS.get(algorithm)
        if size != len(encoded) or not re.fullmatch("[0-9a-f]+", encoded):
            return None
    return domain, path, match.group(2), digest


def _oracle_normalised(text: str) -> tuple[str, str, str | None, str | None] | None:
    """distribution's ParseNormalizedNamed."""
    if re.fullmatch("[a-f0-9]{64}", text):
        return None
    first, slash, rest = text.partition("/")
    if not slash:
        domain, remainder = "docker.io", "library/" + text
    elif first == "localhost" or first.lower() != first or "." in first or ":" in first:
        domain, remainder = ("docker.io" if first == "index.docker.io" else first), rest
    else:
        domain, remainder = "docker.io", text
    if domain == "docker.io" and "/" not in remainder:
        remainder = "library/" + remainder
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        return None
    return _oracle_plain(f"{domain}/{remainder}")


def _outcome(parse: Any, text: str) -> tuple[str, str, str | None, str | None] | None:
    try:
        result = parse(text)
    except InvalidReferenceError:
        return None
    if isinstance(result, KyvernoImageInfo):
        return None  # compared field by field below
    return result.registry, result.path, result.tag, str(result.digest) if result.digest else None


@settings(max_examples=1500)
@given(st.lists(st.sampled_from(_PIECES), max_size=10).map("".join))
def test_property_agrees_with_grammar_oracle(text: str) -> None:
    expected = _oracle_normalised(text)
    if expected is not None and expected[0] == "":
        expected = None  # Docker allows a registry-less name here ("a_b.com/x"); we refuse
    assert _outcome(ImageReference.parse, text) == expected

    plain = _oracle_plain(kyverno_add_default_registry(text))
    try:
        info = kyverno_image_info(text)
    except InvalidReferenceError:
        assert plain is None
        return
    assert plain is not None
    domain, path, tag, digest = plain
    if "_" not in path.partition("/")[0] or domain:
        assert (info.registry, info.path) == (domain, path)
    assert info.digest == (digest or "")
    assert info.tag == (tag or ("" if digest else "latest"))


def test_shared_vectors_found(shared_vectors: Path) -> None:
    assert (shared_vectors / "kyverno" / "matching-tables.yaml").is_file()
