"""Tests for :mod:`imagesig.oci.credentials`: docker config, credential helpers, keychains.

Credential helpers are real executables written into ``tmp_path`` and found on ``PATH``;
nothing about ``subprocess`` is mocked.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagesig.errors import CredentialStoreError
from imagesig.oci.credentials import (
    ANONYMOUS,
    DOCKER_HUB_AUTH_KEY,
    GOOGLE_REGISTRY_HOSTS,
    MAX_HELPER_OUTPUT_BYTES,
    CallableKeychain,
    ChainKeychain,
    DockerConfigKeychain,
    Keychain,
    RegistryCredential,
    StaticKeychain,
    default_keychain,
)

SECRET = "hunter2-very-secret"  # a test value that must never surface

needs_posix = pytest.mark.skipif(os.name == "nt", reason="fake helpers are shebang scripts")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_config(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[[object], DockerConfigKeychain]:
    """Write a config.json and return a keychain reading exactly that file."""

    def make(document: object) -> DockerConfigKeychain:
        path = write_config(tmp_path / "docker" / "config.json", document)
        return DockerConfigKeychain(path, environ={})

    return make


HelperFactory = Callable[[str, str], Path]


@pytest.fixture
def helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HelperFactory:
    """Install ``docker-credential-<name>`` running the given Python body.

    The body sees ``url`` (stdin) and ``args`` (argv[1:]); every call is appended to
    ``<name>.calls`` in the bin directory as ``{"args": ..., "url": ...}``.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    def make(name: str, body: str) -> Path:
        script = bin_dir / f"docker-credential-{name}"
        log = bin_dir / f"{name}.calls"
        script.write_text(
            f"#!{sys.executable} -IS\n"
            "import json, sys, time\n"
            "args = sys.argv[1:]\n"
            "url = sys.stdin.read()\n"
            f"with open({str(log)!r}, 'a') as f:\n"
            "    f.write(json.dumps({'args': args, 'url': url}) + '\\n')\n" + textwrap.dedent(body)
        )
        script.chmod(0o755)
        return log

    return make


def calls(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def answer(username: str, secret: str) -> str:
    document = {"ServerURL": "x", "Username": username, "Secret": secret}
    return f"print({json.dumps(json.dumps(document))})\n"


NOT_FOUND = "print('credentials not found in native keychain'); sys.exit(1)\n"


def assert_no_secret(error: CredentialStoreError) -> None:
    for text in (str(error), error.diagnostics(), repr(error.context)):
        assert SECRET not in text
        assert b64(f"alice:{SECRET}") not in text


# -- RegistryCredential -----------------------------------------------------------------------


def test_repr_and_str_mask_every_secret() -> None:
    credential = RegistryCredential(
        username="alice", password=SECRET, identity_token=SECRET, registry_token=SECRET
    )
    assert repr(credential) == (
        "RegistryCredential(username='alice', password=***, identity_token=***, registry_token=***)"
    )
    assert SECRET not in str(credential)
    assert repr(RegistryCredential(username="alice", password="pw")) == (
        "RegistryCredential(username='alice', password=***)"
    )
    assert repr(ANONYMOUS) == "RegistryCredential()"


def test_is_anonymous() -> None:
    assert ANONYMOUS.is_anonymous
    assert RegistryCredential(username="", password="").is_anonymous
    assert not RegistryCredential(registry_token="t").is_anonymous
    assert not RegistryCredential(username="alice").is_anonymous


def test_credential_fields_must_be_strings() -> None:
    with pytest.raises(TypeError):
        RegistryCredential(username=b"alice")  # type: ignore[arg-type]


# -- auths entries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "ghcr.io",
        "https://ghcr.io",
        "http://ghcr.io",
        "https://ghcr.io/",
        "https://ghcr.io/v1/",
        "https://ghcr.io/v2/",
        "ghcr.io/v2/",
        "ghcr.io/team",
        "https://user@ghcr.io/v2/",
    ],
)
def test_auths_key_spellings_match_the_host(
    config_file: Callable[[object], DockerConfigKeychain], key: str
) -> None:
    keychain = config_file({"auths": {key: {"auth": b64("alice:pw")}}})
    assert keychain.resolve("ghcr.io") == RegistryCredential(username="alice", password="pw")


@pytest.mark.parametrize(
    "key",
    ["ghcr.io.evil.example.com", "https://evil.example.com/ghcr.io", "ghcr.io:443", "ghcr"],
)
def test_auths_keys_for_other_hosts_do_not_match(
    config_file: Callable[[object], DockerConfigKeychain], key: str
) -> None:
    keychain = config_file({"auths": {key: {"auth": b64("alice:pw")}}})
    assert keychain.resolve("ghcr.io") is None


def test_ports_are_part_of_the_host(config_file: Callable[[object], DockerConfigKeychain]) -> None:
    keychain = config_file(
        {
            "auths": {
                "https://127.0.0.1:5000/v2/": {"auth": b64("five:pw")},
                "127.0.0.1": {"auth": b64("bare:pw")},
            }
        }
    )
    assert keychain.resolve("127.0.0.1:5000") == RegistryCredential(username="five", password="pw")
    assert keychain.resolve("127.0.0.1") == RegistryCredential(username="bare", password="pw")
    assert keychain.resolve("127.0.0.1:5001") is None


def test_exact_key_wins_over_hostname_match(
    config_file: Callable[[object], DockerConfigKeychain],
) -> None:
    keychain = config_file(
        {
            "auths": {
                "https://ghcr.io/v1/": {"auth": b64("legacy:pw")},
                "ghcr.io": {"auth": b64("exact:pw")},
            }
        }
    )
    assert keychain.resolve("ghcr.io") == RegistryCredential(username="exact", password="pw")


def test_first_hostname_match_in_file_order_wins(
    config_file: Callable[[object], DockerConfigKeychain],
) -> None:
    keychain = config_file(
        {
            "auths": {
                "http://ghcr.io": {"auth": b64("first:pw")},
                "https://ghcr.io/v2/": {"auth": b64("second:pw")},
            }
        }
    )
    assert keychain.resolve("ghcr.io") == RegistryCredential(username="first", password="pw")


@pytest.mark.parametrize("registry", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_uses_the_index_key(
    config_file: Callable[[object], DockerConfigKeychain], registry: str
) -> None:
    keychain = config_file(
        {
            "auths": {
                "docker.io": {"auth": b64("podman:pw")},
                DOCKER_HUB_AUTH_KEY: {"auth": b64("hub:pw")},
            }
        }
    )
    assert keychain.resolve(registry) == RegistryCredential(username="hub", password="pw")


@pytest.mark.parametrize("key", ["docker.io", "index.docker.io", "https://index.docker.io/v2/"])
def test_docker_hub_accepts_other_spellings_of_its_key(
    config_file: Callable[[object], DockerConfigKeychain], key: str
) -> None:
    keychain = config_file({"auths": {key: {"auth": b64("hub:pw")}}})
    assert keychain.resolve("docker.io") == RegistryCredential(username="hub", password="pw")
    assert keychain.resolve("quay.io") is None


def test_auth_splits_at_the_first_colon_and_trims_nuls(
    config_file: Callable[[object], DockerConfigKeychain],
) -> None:
    keychain = config_file(
        {
            "auths": {
                "a.example": {"auth": b64("alice:pa:ss:word")},
                "b.example": {"auth": b64("bob:secret\x00\x00")},
                "c.example": {"auth": b64("carol:")},
            }
        }
    )
    assert keychain.resolve("a.example") == RegistryCredential("alice", "pa:ss:word")
    assert keychain.resolve("b.example") == RegistryCredential("bob", "secret")
    assert keychain.resolve("c.example") == RegistryCredential(username="carol")


def test_auth_replaces_explicit_username_and_password(
    config_file: Callable[[object], DockerConfigKeychain],
) -> None:
    keychain = config_file(
        {
            "auths": {
                "a.example": {"auth": b64("alice:pw"), "username": "x", "password": "y"},
                "b.example": {"username": "bob", "password": "pw2"},
            }
        }
    )
    assert keychain.resolve("a.example") == RegistryCredential("alice", "pw")
    assert keychain.resolve("b.example") == RegistryCredential("bob", "pw2")


def test_identity_and_registry_tokens(
    config_file: Callable[[object], DockerConfigKeychain],
) -> None:
    keychain = config_file(
        {
            "auths": {
                "id.example": {"username": "alice", "identitytoken": "refresh"},
                "reg.example": {"registrytoken": "bearer"},
                # Go matches JSON field names case-insensitively; so do we.
                "case.example": {"IdentityToken": "refresh2"},
            }
        }
    )
    assert keychain.resolve("id.example") == RegistryCredential(
        username="alice", identity_token="refresh"
    )
    assert keychain.resolve("reg.example") == RegistryCredential(registry_token="bearer")
    assert keychain.resolve("case.example") == RegistryCredential(identity_token="refresh2")


@pytest.mark.parametrize(
    "auth",
    [
        "%%%not-base64%%%",
        b64("no-colon-here"),
        b64(":password-without-user"),
        base64.b64encode(b"alice:\xff\xfe").decode(),
        b64(f"alice:{SECRET}")[:-2],  # truncated: bad padding
    ],
)
def test_bad_auth_names_file_and_registry_without_the_value(
    config_file: Callable[[object], DockerConfigKeychain], auth: str
) -> None:
    keychain = config_file({"auths": {"ghcr.io": {"auth": auth}}})
    with pytest.raises(CredentialStoreError) as caught:
        keychain.resolve("ghcr.io")
    message = str(caught.value)
    assert "config.json" in message
    assert "ghcr.io" in message
    assert auth not in message
    assert_no_secret(caught.value)


def test_bad_auth_for_another_registry_does_not_break_lookups(
    config_file: Callable[[object], DockerConfigKeychain],
) -> None:
    keychain = config_file(
        {"auths": {"broken.example": {"auth": "%%%"}, "ghcr.io": {"auth": b64("alice:pw")}}}
    )
    assert keychain.resolve("ghcr.io") == RegistryCredential("alice", "pw")


def test_empty_entry_without_store_is_nothing(
    config_file: Callable[[object], DockerConfigKeychain],
) -> None:
    keychain = config_file({"auths": {"ghcr.io": {}, "quay.io": None, "x.example": {"auth": ""}}})
    assert keychain.resolve("ghcr.io") is None
    assert keychain.resolve("quay.io") is None
    assert keychain.resolve("x.example") is None
    assert keychain.resolve("other.example") is None


@pytest.mark.parametrize("content", ["", "  \n", "null", '{"auths": null}', "{} trailing"])
def test_empty_documents_are_empty_configs(
    config_file: Callable[[object], DockerConfigKeychain], content: str
) -> None:
    assert config_file(content).resolve("ghcr.io") is None


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"auths": []}',
        '{"auths": {"ghcr.io": "x"}}',
        '{"auths": {"ghcr.io": {"auth": 5}}}',
        '{"credsStore": 1}',
        '{"credsStore": 0}',
        '{"auths": false}',
        '{"credHelpers": {"ghcr.io": 1}}',
    ],
)
def test_malformed_config_names_the_file(
    config_file: Callable[[object], DockerConfigKeychain], content: str
) -> None:
    keychain = config_file(content)
    with pytest.raises(CredentialStoreError, match=r"config\.json") as caught:
        keychain.resolve("ghcr.io")
    assert caught.value.context["path"].endswith("config.json")


def test_malformed_json_error_does_not_quote_the_file(
    config_file: Callable[[object], DockerConfigKeychain],
) -> None:
    keychain = config_file('{"auths": {"ghcr.io": {"auth": "' + b64(f"a:{SECRET}") + '"}')
    with pytest.raises(CredentialStoreError) as caught:
        keychain.resolve("ghcr.io")
    assert_no_secret(caught.value)


def test_missing_file_is_no_credentials(tmp_path: Path) -> None:
    keychain = DockerConfigKeychain(tmp_path / "absent" / "config.json", environ={})
    assert keychain.resolve("ghcr.io") is None


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    directory = tmp_path / "config.json"
    directory.mkdir()
    with pytest.raises(CredentialStoreError, match="cannot read credentials file"):
        DockerConfigKeychain(directory, environ={}).resolve("ghcr.io")


def test_config_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.json", {"auths": {"ghcr.io": {"auth": b64("a:1")}}})
    keychain = DockerConfigKeychain(path, environ={})
    assert keychain.resolve("ghcr.io") == RegistryCredential("a", "1")
    write_config(path, {"auths": {"ghcr.io": {"auth": b64("b:22")}}})
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert keychain.resolve("ghcr.io") == RegistryCredential("b", "22")
    path.unlink()
    assert keychain.resolve("ghcr.io") is None


def test_config_is_parsed_lazily_and_not_reread_when_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    keychain = DockerConfigKeychain(path, environ={})  # no file yet: no error at creation
    write_config(path, {"auths": {"ghcr.io": {"auth": b64("a:1")}}})
    assert keychain.resolve("ghcr.io") == RegistryCredential("a", "1")
    stat = path.stat()
    # Same size and mtime: the cheap stat says nothing changed, so the cached parse is used.
    path.write_text(json.dumps({"auths": {"ghcr.io": {"auth": b64("b:2")}}}))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert keychain.resolve("ghcr.io") == RegistryCredential("a", "1")


# -- where the file is -------------------------------------------------------------------------


def entry(user: str) -> dict[str, object]:
    return {"auths": {"ghcr.io": {"auth": b64(f"{user}:pw")}}}


def test_default_is_home_docker_config(tmp_path: Path) -> None:
    write_config(tmp_path / "home" / ".docker" / "config.json", entry("home"))
    keychain = DockerConfigKeychain(environ={"HOME": str(tmp_path / "home")})
    assert keychain.resolve("ghcr.io") == RegistryCredential("home", "pw")
    assert keychain.config_path == tmp_path / "home" / ".docker" / "config.json"


def test_docker_config_dir_wins_over_home(tmp_path: Path) -> None:
    write_config(tmp_path / "home" / ".docker" / "config.json", entry("home"))
    write_config(tmp_path / "dc" / "config.json", entry("dockerconfig"))
    environ = {"HOME": str(tmp_path / "home"), "DOCKER_CONFIG": str(tmp_path / "dc")}
    keychain = DockerConfigKeychain(environ=environ)
    assert keychain.resolve("ghcr.io") == RegistryCredential("dockerconfig", "pw")


def test_docker_config_dir_without_file_hides_home(tmp_path: Path) -> None:
    # Docker reads only $DOCKER_CONFIG when it is set, even if the home file exists.
    write_config(tmp_path / "home" / ".docker" / "config.json", entry("home"))
    write_config(tmp_path / "podman" / "auth.json", entry("podman"))
    environ = {
        "HOME": str(tmp_path / "home"),
        "DOCKER_CONFIG": str(tmp_path / "empty"),
        "REGISTRY_AUTH_FILE": str(tmp_path / "podman" / "auth.json"),
    }
    assert DockerConfigKeychain(environ=environ).resolve("ghcr.io") is None


def test_registry_auth_file_when_no_docker_config(tmp_path: Path) -> None:
    write_config(tmp_path / "reg" / "auth.json", entry("registry-auth-file"))
    write_config(tmp_path / "run" / "containers" / "auth.json", entry("runtime"))
    environ = {
        "HOME": str(tmp_path / "home"),
        "REGISTRY_AUTH_FILE": str(tmp_path / "reg" / "auth.json"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
    }
    keychain = DockerConfigKeychain(environ=environ)
    assert keychain.resolve("ghcr.io") == RegistryCredential("registry-auth-file", "pw")
    write_config(tmp_path / "home" / ".docker" / "config.json", entry("home"))
    assert keychain.resolve("ghcr.io") == RegistryCredential("home", "pw")


def test_podman_runtime_then_config_home(tmp_path: Path) -> None:
    write_config(tmp_path / "home" / ".config" / "containers" / "auth.json", entry("config"))
    environ = {"HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    keychain = DockerConfigKeychain(environ=environ)
    assert keychain.resolve("ghcr.io") == RegistryCredential("config", "pw")
    write_config(tmp_path / "run" / "containers" / "auth.json", entry("runtime"))
    assert keychain.resolve("ghcr.io") == RegistryCredential("runtime", "pw")
    write_config(tmp_path / "xdg" / "containers" / "auth.json", entry("xdg"))
    environ2 = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert DockerConfigKeychain(environ=environ2).resolve("ghcr.io") == RegistryCredential(
        "xdg", "pw"
    )


def test_no_file_anywhere_is_nothing(tmp_path: Path) -> None:
    keychain = DockerConfigKeychain(environ={"HOME": str(tmp_path)})
    assert keychain.config_path is None
    assert keychain.resolve("ghcr.io") is None


def test_default_keychain_reads_docker_config() -> None:
    keychain = default_keychain()
    assert isinstance(keychain, DockerConfigKeychain)
    assert isinstance(keychain, Keychain)


# -- DOCKER_AUTH_CONFIG -----------------------------------------------------------------------


def test_docker_auth_config_comes_first(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "config.json",
        {"credsStore": "never-run", "auths": {"ghcr.io": {"auth": b64("file:pw")}}},
    )
    env_config = {
        "auths": {"ghcr.io": {"auth": b64("env:pw")}, DOCKER_HUB_AUTH_KEY: {"auth": b64("hub:pw")}}
    }
    keychain = DockerConfigKeychain(path, environ={"DOCKER_AUTH_CONFIG": json.dumps(env_config)})
    assert keychain.resolve("ghcr.io") == RegistryCredential("env", "pw")
    assert keychain.resolve("docker.io") == RegistryCredential("hub", "pw")


def test_docker_auth_config_applies_without_a_file(tmp_path: Path) -> None:
    env_config = json.dumps({"auths": {"ghcr.io": {"auth": b64("env:pw")}}})
    keychain = DockerConfigKeychain(
        environ={"HOME": str(tmp_path), "DOCKER_AUTH_CONFIG": env_config}
    )
    assert keychain.resolve("ghcr.io") == RegistryCredential("env", "pw")
    assert keychain.resolve("quay.io") is None


@pytest.mark.parametrize(
    "value",
    [
        "{not json",
        json.dumps({"auths": {"ghcr.io": {"auth": b64("env:pw"), "username": "x"}}}),
        json.dumps({"auths": {"ghcr.io": {}}}),
        json.dumps({"auths": {}, "credHelpers": {}}),
        json.dumps({"auths": {"ghcr.io": {"auth": "%%%"}}}),
    ],
)
def test_docker_auth_config_docker_refuses_is_ignored(
    tmp_path: Path, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_config(tmp_path / "config.json", entry("file"))
    keychain = DockerConfigKeychain(path, environ={"DOCKER_AUTH_CONFIG": value})
    assert keychain.resolve("ghcr.io") == RegistryCredential("file", "pw")
    assert "DOCKER_AUTH_CONFIG" in caplog.text


# -- credential helpers ------------------------------------------------------------------------


@needs_posix
def test_helper_protocol_exact_request(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    log = helper("store", answer("alice", "pw"))
    keychain = config_file({"credsStore": "store"})
    assert keychain.resolve("ghcr.io") == RegistryCredential("alice", "pw")
    assert keychain.resolve("docker.io") == RegistryCredential("alice", "pw")
    assert keychain.resolve("127.0.0.1:5000") == RegistryCredential("alice", "pw")
    assert calls(log) == [
        {"args": ["get"], "url": "ghcr.io"},
        {"args": ["get"], "url": DOCKER_HUB_AUTH_KEY},
        {"args": ["get"], "url": "127.0.0.1:5000"},
    ]


@needs_posix
def test_helper_token_username_means_identity_token(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    helper("store", answer("<token>", "refresh-token"))
    keychain = config_file({"credsStore": "store"})
    assert keychain.resolve("ghcr.io") == RegistryCredential(identity_token="refresh-token")


@needs_posix
def test_helper_answer_fields_are_case_insensitive_and_empty_is_nothing(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    helper(
        "store",
        """
        if url == "ghcr.io":
            print(json.dumps({"username": "alice", "secret": "pw"}))
        else:
            print(json.dumps({"ServerURL": url, "Username": "", "Secret": ""}))
        """,
    )
    keychain = config_file({"credsStore": "store"})
    assert keychain.resolve("ghcr.io") == RegistryCredential("alice", "pw")
    assert keychain.resolve("quay.io") is None


@needs_posix
def test_cred_helpers_win_over_creds_store_and_auths(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    per_registry = helper("gcloud", answer("oauth2accesstoken", "ya29"))
    default = helper("desktop", answer("desktop-user", "pw"))
    keychain = config_file(
        {
            "credsStore": "desktop",
            "credHelpers": {"gcr.io": "gcloud"},
            "auths": {"gcr.io": {"auth": b64("file:pw")}, "ghcr.io": {"auth": b64("file:pw")}},
        }
    )
    assert keychain.resolve("gcr.io") == RegistryCredential("oauth2accesstoken", "ya29")
    assert keychain.resolve("ghcr.io") == RegistryCredential("desktop-user", "pw")
    assert [c["url"] for c in calls(per_registry)] == ["gcr.io"]
    assert [c["url"] for c in calls(default)] == ["ghcr.io"]


@needs_posix
def test_empty_cred_helper_selects_the_file_over_creds_store(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    log = helper("desktop", answer("desktop-user", "pw"))
    keychain = config_file(
        {
            "credsStore": "desktop",
            "credHelpers": {"ghcr.io": ""},
            "auths": {"ghcr.io": {"auth": b64("file:pw")}},
        }
    )
    assert keychain.resolve("ghcr.io") == RegistryCredential("file", "pw")
    assert calls(log) == []


@needs_posix
def test_cred_helpers_key_for_docker_hub_is_the_index_url(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    log = helper("hub", answer("hub-user", "pw"))
    keychain = config_file({"credHelpers": {DOCKER_HUB_AUTH_KEY: "hub"}})
    assert keychain.resolve("docker.io") == RegistryCredential("hub-user", "pw")
    assert keychain.resolve("ghcr.io") is None
    assert [c["url"] for c in calls(log)] == [DOCKER_HUB_AUTH_KEY]


@needs_posix
def test_empty_auths_entry_falls_through_to_the_store(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    # What `docker login` writes when a credsStore is configured.
    helper("desktop", answer("alice", "pw"))
    keychain = config_file({"credsStore": "desktop", "auths": {"ghcr.io": {}}})
    assert keychain.resolve("ghcr.io") == RegistryCredential("alice", "pw")


@needs_posix
def test_store_not_found_does_not_fall_back_to_inline_auth(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    # docker's native store replaces the file entry's user, password and identity token
    # with the helper's answer, even when that answer is "not found".
    helper("desktop", NOT_FOUND)
    keychain = config_file(
        {
            "credsStore": "desktop",
            "auths": {
                "ghcr.io": {"auth": b64("file:pw"), "identitytoken": "file-token"},
                "quay.io": {"registrytoken": "bearer"},
            },
        }
    )
    assert keychain.resolve("ghcr.io") is None
    # ... but the entry's registrytoken survives.
    assert keychain.resolve("quay.io") == RegistryCredential(registry_token="bearer")


@needs_posix
def test_registry_token_from_auths_joins_the_helper_answer(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    helper("desktop", answer("alice", "pw"))
    keychain = config_file({"credsStore": "desktop", "auths": {"ghcr.io": {"registrytoken": "t"}}})
    assert keychain.resolve("ghcr.io") == RegistryCredential("alice", "pw", registry_token="t")


@needs_posix
@pytest.mark.parametrize(
    "body",
    [
        NOT_FOUND,
        "print('credentials not found in native keychain  '); sys.exit(3)\n",
        "sys.stderr.write('warning: slow\\ncredentials not found in native keychain\\n'); "
        "sys.exit(1)\n",
    ],
)
def test_helper_not_found_is_none(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain], body: str
) -> None:
    helper("store", body)
    assert config_file({"credsStore": "store"}).resolve("ghcr.io") is None


@needs_posix
def test_not_found_message_with_exit_zero_is_garbage(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    helper("store", "print('credentials not found in native keychain')\n")
    with pytest.raises(CredentialStoreError, match="not JSON"):
        config_file({"credsStore": "store"}).resolve("ghcr.io")


@needs_posix
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Crash after printing a credentials document: the secret must not be quoted.
        (
            f"print(json.dumps({{'Username': 'alice', 'Secret': {SECRET!r}}}))\n"
            f"sys.stderr.write('boom {SECRET}\\n'); sys.exit(2)\n",
            "exit status 2",
        ),
        ("sys.stderr.write('keyring locked\\n'); sys.exit(1)\n", "keyring locked"),
        ("print('error getting credentials: dbus failure'); sys.exit(1)\n", "dbus failure"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n", "signal 9"),
        (f'print(\'{{"Username": "alice", "Secret": "{SECRET}"\')\n', "not JSON"),
        (f"print('Username=alice Secret={SECRET}')\n", "not JSON"),
        (f"print(json.dumps([{SECRET!r}]))\n", "not an object"),
        (f"print(json.dumps({{'Username': 'a', 'Secret': [{SECRET!r}]}}))\n", "not a string"),
        ("sys.stdout.buffer.write(b'\\xff\\xfe'); sys.exit(0)\n", "not JSON"),
    ],
)
def test_helper_failures_raise_without_secrets(
    helper: HelperFactory,
    config_file: Callable[[object], DockerConfigKeychain],
    body: str,
    expected: str,
) -> None:
    helper("store", body)
    keychain = config_file({"credsStore": "store"})
    with pytest.raises(CredentialStoreError) as caught:
        keychain.resolve("ghcr.io")
    message = str(caught.value)
    assert expected in message
    assert "docker-credential-store" in message
    assert "ghcr.io" in message
    assert caught.value.context["helper"] == "docker-credential-store"
    assert_no_secret(caught.value)


@needs_posix
def test_helper_error_output_is_truncated(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    helper("store", "sys.stderr.write('x' * 100000); sys.exit(1)\n")
    with pytest.raises(CredentialStoreError) as caught:
        config_file({"credsStore": "store"}).resolve("ghcr.io")
    assert len(str(caught.value)) < 500


@needs_posix
def test_helper_timeout(helper: HelperFactory, tmp_path: Path) -> None:
    helper("slow", "time.sleep(30)\n")
    path = write_config(tmp_path / "config.json", {"credsStore": "slow"})
    keychain = DockerConfigKeychain(path, environ={}, helper_timeout=0.5)
    with pytest.raises(CredentialStoreError, match=r"within 0\.5 s"):
        keychain.resolve("ghcr.io")


@needs_posix
def test_helper_output_is_capped(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    helper(
        "chatty",
        f"sys.stdout.write('{{\"Username\": \"' + 'a' * {MAX_HELPER_OUTPUT_BYTES * 2})\n"
        "sys.stdout.flush(); time.sleep(30)\n",
    )
    with pytest.raises(CredentialStoreError, match="more than"):
        config_file({"credsStore": "chatty"}).resolve("ghcr.io")


@needs_posix
def test_missing_helper_has_a_hint(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    keychain = config_file({"credHelpers": {"ghcr.io": "not-installed-anywhere"}})
    with pytest.raises(CredentialStoreError, match="not installed") as caught:
        keychain.resolve("ghcr.io")
    assert caught.value.hint is not None
    assert "docker-credential-not-installed-anywhere" in caught.value.hint
    assert keychain.resolve("quay.io") is None


@pytest.mark.parametrize("name", ["../../bin/sh", "a/b", "a\\b", " "])
def test_helper_names_with_paths_are_refused(
    config_file: Callable[[object], DockerConfigKeychain], name: str
) -> None:
    with pytest.raises(CredentialStoreError, match="plain program name"):
        config_file({"credsStore": name}).resolve("ghcr.io")


@needs_posix
def test_helper_answers_are_cached(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    log = helper("store", answer("alice", "pw"))
    keychain = config_file({"credsStore": "store"})
    for _ in range(3):
        assert keychain.resolve("ghcr.io") == RegistryCredential("alice", "pw")
    assert keychain.resolve("quay.io") == RegistryCredential("alice", "pw")
    assert [c["url"] for c in calls(log)] == ["ghcr.io", "quay.io"]
    keychain.clear_cache()
    keychain.resolve("ghcr.io")
    assert len(calls(log)) == 3


@needs_posix
def test_helper_not_found_is_not_cached(
    helper: HelperFactory, config_file: Callable[[object], DockerConfigKeychain]
) -> None:
    log = helper("store", NOT_FOUND)
    keychain = config_file({"credsStore": "store"})
    assert keychain.resolve("ghcr.io") is None
    assert keychain.resolve("ghcr.io") is None
    assert len(calls(log)) == 2


@needs_posix
def test_helper_cache_ttl_zero_asks_every_time(helper: HelperFactory, tmp_path: Path) -> None:
    log = helper("store", answer("alice", "pw"))
    path = write_config(tmp_path / "config.json", {"credsStore": "store"})
    keychain = DockerConfigKeychain(path, environ={}, helper_cache_ttl=0)
    keychain.resolve("ghcr.io")
    keychain.resolve("ghcr.io")
    assert len(calls(log)) == 2


@needs_posix
def test_helper_cache_is_dropped_when_config_changes(helper: HelperFactory, tmp_path: Path) -> None:
    log = helper("store", answer("alice", "pw"))
    path = write_config(tmp_path / "config.json", {"credsStore": "store"})
    keychain = DockerConfigKeychain(path, environ={})
    keychain.resolve("ghcr.io")
    write_config(path, {"credsStore": "store", "auths": {"ghcr.io": {}}})
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    keychain.resolve("ghcr.io")
    assert len(calls(log)) == 2


# -- Static, Chain and Callable keychains ------------------------------------------------------


def test_static_keychain() -> None:
    keychain = StaticKeychain(
        {
            "ghcr.io": RegistryCredential(registry_token="t"),
            "https://quay.io/v2/": ("alice", "pw"),
            "docker.io": ("hub", "pw"),
        }
    )
    assert keychain.resolve("ghcr.io") == RegistryCredential(registry_token="t")
    assert keychain.resolve("quay.io") == RegistryCredential("alice", "pw")
    assert keychain.resolve("QUAY.IO") == RegistryCredential("alice", "pw")
    for hub in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        assert keychain.resolve(hub) == RegistryCredential("hub", "pw")
    assert keychain.resolve("gcr.io") is None
    assert "pw" not in repr(keychain)
    assert StaticKeychain().resolve("ghcr.io") is None


def test_static_keychain_refuses_bad_input() -> None:
    with pytest.raises(TypeError):
        StaticKeychain({"ghcr.io": ("alice",)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="twice"):
        StaticKeychain({"docker.io": ("a", "b"), DOCKER_HUB_AUTH_KEY: ("c", "d")})


def test_chain_keychain_first_answer_wins() -> None:
    asked: list[str] = []

    def never(registry: str) -> RegistryCredential | None:
        asked.append(registry)
        return None

    first = StaticKeychain({"ghcr.io": ("first", "pw")})
    second = StaticKeychain({"ghcr.io": ("second", "pw"), "quay.io": ("second", "pw")})
    chain = ChainKeychain([CallableKeychain(never), first, second])
    assert chain.resolve("ghcr.io") == RegistryCredential("first", "pw")
    assert chain.resolve("quay.io") == RegistryCredential("second", "pw")
    assert chain.resolve("gcr.io") is None
    assert asked == ["ghcr.io", "quay.io", "gcr.io"]


def test_chain_keychain_anonymous_stops_the_search() -> None:
    chain = ChainKeychain(
        [StaticKeychain({"ghcr.io": ANONYMOUS}), StaticKeychain({"ghcr.io": ("a", "b")})]
    )
    assert chain.resolve("ghcr.io") is ANONYMOUS


def test_chain_keychain_propagates_errors(tmp_path: Path) -> None:
    broken = write_config(tmp_path / "config.json", "{")
    chain = ChainKeychain(
        [DockerConfigKeychain(broken, environ={}), StaticKeychain({"ghcr.io": ("a", "b")})]
    )
    with pytest.raises(CredentialStoreError):
        chain.resolve("ghcr.io")


def test_cloud_callable_only_sees_allowlisted_hosts() -> None:
    seen: list[str] = []

    def cloud(registry: str) -> RegistryCredential:
        seen.append(registry)
        return RegistryCredential("oauth2accesstoken", SECRET)

    keychain = ChainKeychain(
        [
            StaticKeychain({"ghcr.io": ("alice", "pw")}),
            CallableKeychain(cloud, hosts=GOOGLE_REGISTRY_HOSTS),
        ]
    )
    for registry in (
        "evil.example.com",
        "gcr.io.evil.example.com",
        "evilgcr.io",
        "pkg.dev",
        "gcr.io:8443",
        "evil.example.com/x.pkg.dev",
        "evil.example.com#.gcr.io",
        "evil.example.com:443@us.gcr.io",
        "",
    ):
        assert keychain.resolve(registry) is None, registry
    assert seen == []
    for registry in ("gcr.io", "eu.gcr.io", "us-docker.pkg.dev", "EU.GCR.IO"):
        assert keychain.resolve(registry) == RegistryCredential("oauth2accesstoken", SECRET)
    assert seen == ["gcr.io", "eu.gcr.io", "us-docker.pkg.dev", "EU.GCR.IO"]


def test_callable_keychain_hosts_must_be_a_collection() -> None:
    with pytest.raises(TypeError):
        CallableKeychain(lambda registry: None, hosts="gcr.io")
    assert not CallableKeychain(lambda registry: ANONYMOUS, hosts=[]).applies_to("gcr.io")
    assert CallableKeychain(lambda registry: ANONYMOUS).resolve("anything") is ANONYMOUS


# -- properties ------------------------------------------------------------------------------

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_hosts = st.builds(
    lambda labels, port: ".".join(labels) + (f":{port}" if port else ""),
    st.lists(_label, min_size=1, max_size=4),
    st.one_of(st.none(), st.integers(1, 65535)),
)


@given(
    host=_hosts,
    scheme=st.sampled_from(["", "http://", "https://"]),
    path=st.sampled_from(["", "/", "/v1/", "/v2/", "/team/app"]),
    user=st.text(min_size=1, max_size=8).filter(lambda s: ":" not in s),
    password=st.text(max_size=12),
)
def test_any_spelling_of_a_host_key_serves_that_host(
    host: str, scheme: str, path: str, user: str, password: str
) -> None:
    if host in {"docker.io", "index.docker.io", "registry-1.docker.io"}:
        return
    credential = StaticKeychain({f"{scheme}{host}{path}": (user, password)}).resolve(host)
    assert credential == RegistryCredential(user, password)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    with tempfile.TemporaryDirectory() as directory:
        config = write_config(
            Path(directory) / "config.json", {"auths": {f"{scheme}{host}{path}": {"auth": auth}}}
        )
        from_file = DockerConfigKeychain(config, environ={}).resolve(host)
    assert from_file == RegistryCredential(user, password.strip("\x00") or None)
