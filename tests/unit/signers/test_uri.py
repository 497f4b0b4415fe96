"""Tests for :mod:`imagesig.signers.uri`: key references, providers, entry points, the plugin."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from imagesig.errors import (
    KeyFormatError,
    SignerError,
    UnknownSignerSchemeError,
    UnsupportedAlgorithmError,
)
from imagesig.signers import (
    ENTRY_POINT_GROUP,
    AsyncSigner,
    LocalSigner,
    PublicKey,
    SignatureAlgorithm,
    Signer,
    SignerProvider,
    async_signer_from_uri,
    async_verifier_from_uri,
    register_signer,
    registered_schemes,
    reset_signer_registry,
    signer_from_uri,
    signer_scheme,
    unregister_signer,
    verifier_from_uri,
)

ROOT = Path(__file__).resolve().parents[3]
PLUGIN_SOURCE = ROOT / "examples" / "plugin"
SignerFor = Callable[[SignatureAlgorithm], LocalSigner]


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    reset_signer_registry()
    yield
    reset_signer_registry()


@pytest.fixture
def key_files(tmp_path: Path, signer_for: SignerFor) -> tuple[LocalSigner, Path, Path]:
    """An unencrypted PKCS#8 private key file and its public key file."""
    signer = signer_for(SignatureAlgorithm.ECDSA_P256_SHA256)
    private, public = tmp_path / "key.pem", tmp_path / "key.pub"
    private.write_bytes(signer.private_pem())
    public.write_bytes(signer.public_key().pem)
    return signer, private, public


class RecordingSigner:
    """A minimal third-party signer: a local key behind the Signer protocol."""

    def __init__(self, reference: str, **options: Any) -> None:
        self.reference = reference
        self.options = options
        self._key = LocalSigner.generate()
        self.threads: list[str] = []

    @property
    def name(self) -> str:
        return self.reference

    @property
    def algorithm(self) -> SignatureAlgorithm:
        return self._key.algorithm

    def public_key(self) -> PublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        self.threads.append(threading.current_thread().name)
        return self._key.sign(data)


class RecordingAsyncSigner(RecordingSigner):
    async def public_key(self) -> PublicKey:  # type: ignore[override]
        return self._key.public_key()

    async def sign(self, data: bytes) -> bytes:  # type: ignore[override]
        return self._key.sign(data)


# -- references --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "scheme"),
    [
        ("cosign.key", None),
        ("/keys/cosign.key", None),
        ("C:\\keys\\cosign.key", None),
        ("file:///keys/cosign.key", "file"),
        ("FILE://cosign.key", "file"),
        ("env://COSIGN_KEY", "env"),
        ("gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k/versions/1", "gcpkms"),
        ("gcpkms:projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", "gcpkms"),
        ("pkcs11:token=cosign;object=key", "pkcs11"),
        ("awskms:///alias/cosign", "awskms"),
        ("k8s://ns/secret", "k8s"),
        ("my-vault+v2://x", "my-vault+v2"),
    ],
)
def test_signer_scheme_tells_uris_from_paths(reference: str, scheme: str | None) -> None:
    assert signer_scheme(reference) == scheme


def test_plain_path_file_uri_and_pathlike_sign_with_the_local_key(
    key_files: tuple[LocalSigner, Path, Path],
) -> None:
    signer, private, _ = key_files
    for reference in (str(private), f"file://{private}", private):
        loaded = signer_from_uri(reference)
        assert isinstance(loaded, LocalSigner)
        assert loaded.public_key() == signer.public_key()
        assert signer.public_key().verify(loaded.sign(b"payload"), b"payload")


def test_key_file_options_reach_the_local_signer(tmp_path: Path, signer_for: SignerFor) -> None:
    signer = signer_for(SignatureAlgorithm.RSA_PKCS1V15_SHA256)
    path = tmp_path / "cosign.key"
    path.write_bytes(signer.to_cosign_key("s3cret"))
    loaded = signer_from_uri(path, password="s3cret", algorithm=SignatureAlgorithm.RSA_PSS_SHA256)
    assert loaded.algorithm is SignatureAlgorithm.RSA_PSS_SHA256
    assert loaded.public_key() == signer.public_key()


def test_options_set_to_none_are_not_passed_on(key_files: tuple[LocalSigner, Path, Path]) -> None:
    _, private, public = key_files
    # LocalSigner.from_file takes no "client" or "endpoint": None values must be dropped.
    assert signer_from_uri(private, password=None, client=None, endpoint=None)
    assert verifier_from_uri(public, password=None, client=None)


def test_an_option_the_provider_does_not_take_is_a_type_error(
    key_files: tuple[LocalSigner, Path, Path],
) -> None:
    with pytest.raises(TypeError):
        signer_from_uri(key_files[1], endpoint="127.0.0.1:1")


def test_env_uri_signs_with_the_pem_in_the_variable(
    monkeypatch: pytest.MonkeyPatch, signer_for: SignerFor
) -> None:
    signer = signer_for(SignatureAlgorithm.ECDSA_P384_SHA384)
    monkeypatch.setenv("RELEASE_KEY", signer.to_cosign_key("pw").decode())
    monkeypatch.setenv("RELEASE_PUB", signer.public_key().pem.decode())
    loaded = signer_from_uri("env://RELEASE_KEY", password="pw")
    assert loaded.name == "env://RELEASE_KEY"
    verifier = verifier_from_uri("env://RELEASE_PUB")
    assert verifier.verify(loaded.sign(b"data"), b"data")


def test_env_uri_names_a_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with pytest.raises(SignerError, match="environment variable NO_SUCH_KEY is not set"):
        signer_from_uri("env://NO_SUCH_KEY")
    with pytest.raises(SignerError, match="names no environment variable"):
        verifier_from_uri("env://")


def test_verifier_from_uri_reads_public_keys_only(
    key_files: tuple[LocalSigner, Path, Path],
) -> None:
    signer, private, public = key_files
    verifier = verifier_from_uri(f"file://{public}")
    assert verifier.public_key() == signer.public_key()
    assert verifier.verify(signer.sign(b"m"), b"m")
    with pytest.raises(KeyFormatError, match="not a public key"):
        verifier_from_uri(private)


def test_verifier_from_uri_passes_the_algorithm(tmp_path: Path, signer_for: SignerFor) -> None:
    signer = signer_for(SignatureAlgorithm.RSA_PSS_SHA256)
    path = tmp_path / "rsa.pub"
    path.write_bytes(signer.public_key().pem)
    assert verifier_from_uri(path).public_key().algorithm is SignatureAlgorithm.RSA_PKCS1V15_SHA256
    pss = verifier_from_uri(path, algorithm=SignatureAlgorithm.RSA_PSS_SHA256)
    assert pss.verify(signer.sign(b"m"), b"m")
    with pytest.raises(UnsupportedAlgorithmError):
        verifier_from_uri(path, algorithm=SignatureAlgorithm.ECDSA_P256_SHA256)


# -- schemes without a provider ------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        "awskms:///arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "awskms://localhost:4566/alias/cosign",
        "azurekms://myvault.vault.azure.net/cosign",
        "hashivault://cosign",
        "openbao://cosign",
        "k8s://release/cosign-keys",
        "gitlab://group/project",
        "pkcs11:token=cosign;slot-id=0;object=key?module-path=/usr/lib/softhsm.so",
    ],
)
def test_cosign_schemes_without_a_plugin_say_so(reference: str) -> None:
    scheme = signer_scheme(reference)
    expected = f"no provider installed for scheme '{scheme}'; install a plugin"
    for resolve in (signer_from_uri, verifier_from_uri, async_signer_from_uri):
        with pytest.raises(UnknownSignerSchemeError) as caught:
            resolve(reference)
        assert str(caught.value) == expected
        assert caught.value.context["scheme"] == scheme
        assert caught.value.hint is not None
        assert "cosign handles" in caught.value.hint
        assert ENTRY_POINT_GROUP in caught.value.hint


async def test_async_verifier_from_uri_refuses_unknown_schemes() -> None:
    with pytest.raises(UnknownSignerSchemeError, match="scheme 'nosuch'"):
        await async_verifier_from_uri("nosuch://key")


def test_unknown_scheme_lists_the_available_ones_and_hides_credentials() -> None:
    with pytest.raises(UnknownSignerSchemeError) as caught:
        signer_from_uri("vault://user:hunter2@vault.example.com/transit/key")
    error = caught.value
    assert str(error) == "no provider installed for scheme 'vault'; install a plugin"
    assert "env, file, gcpkms" in (error.hint or "")
    assert "hunter2" not in error.diagnostics()
    assert "vault.example.com" in error.context["key"]


# -- register_signer -----------------------------------------------------------------------------


def test_registered_factory_gets_the_whole_reference_and_the_options() -> None:
    with register_signer("Vault", RecordingSigner) as registration:
        assert registration.scheme == "vault"
        signer = signer_from_uri("VAULT://transit/cosign", mount="transit", password=None)
    assert isinstance(signer, RecordingSigner)
    assert signer.reference == "VAULT://transit/cosign"
    assert signer.options == {"mount": "transit"}
    assert isinstance(signer, Signer)


def test_register_signer_refuses_conflicts_unless_replacing() -> None:
    with register_signer("vault", RecordingSigner):
        with pytest.raises(SignerError, match="already registered") as caught:
            register_signer("vault", RecordingSigner)
        assert caught.value.hint == "pass replace=True to replace it"
        with pytest.raises(SignerError, match="built in"):
            register_signer("gcpkms", RecordingSigner)
        with register_signer("vault", RecordingAsyncSigner, replace=True):
            assert isinstance(async_signer_from_uri("vault://x"), RecordingAsyncSigner)
        # the inner registration undid itself and restored the outer one
        assert isinstance(signer_from_uri("vault://x"), RecordingSigner)
    with pytest.raises(UnknownSignerSchemeError):
        signer_from_uri("vault://x")


def test_replacing_a_builtin_scheme_is_undone_with_the_block(
    key_files: tuple[LocalSigner, Path, Path],
) -> None:
    _, private, _ = key_files
    with register_signer("file", RecordingSigner, replace=True):
        replaced = signer_from_uri(private)
        assert isinstance(replaced, RecordingSigner)
        assert replaced.reference == str(private)  # plain paths belong to "file"
    assert isinstance(signer_from_uri(private), LocalSigner)


def test_undo_leaves_a_newer_registration_in_place() -> None:
    first = register_signer("vault", RecordingSigner)
    unregister_signer("vault")
    second = register_signer("vault", RecordingAsyncSigner)
    first.undo()
    assert second.provider.signer is RecordingAsyncSigner
    assert isinstance(async_signer_from_uri("vault://x"), RecordingAsyncSigner)
    second.undo()
    second.undo()  # twice is harmless
    assert "vault" not in registered_schemes(include_entry_points=False)


@pytest.mark.parametrize("scheme", ["", "1vault", "va ult", "vault/x"])
def test_register_signer_rejects_malformed_schemes(scheme: str) -> None:
    with pytest.raises(ValueError, match="not a URI scheme"):
        register_signer(scheme, RecordingSigner)


def test_register_signer_rejects_non_factories() -> None:
    with pytest.raises(TypeError, match="factory callable or a SignerProvider"):
        register_signer("vault", "not a factory")  # type: ignore[arg-type]


def test_scheme_suffixes_are_accepted_when_registering() -> None:
    with register_signer("vault://", RecordingSigner) as registration:
        assert registration.scheme == "vault"


def test_sync_lookup_refuses_an_async_signer() -> None:
    with (
        register_signer("asyncvault", RecordingAsyncSigner),
        pytest.raises(SignerError, match="returned an async signer") as caught,
    ):
        signer_from_uri("asyncvault://x")
    assert "async_signer_from_uri" in (caught.value.hint or "")


async def test_async_signer_from_uri_runs_sync_plugins_in_a_worker_thread() -> None:
    with register_signer("vault", RecordingSigner):
        signer = async_signer_from_uri("vault://x")
        assert isinstance(signer, AsyncSigner)
        signature = await signer.sign(b"data")
        assert (await signer.public_key()).verify(signature, b"data")
    inner = signer.signer  # type: ignore[attr-defined]
    assert inner.threads
    assert inner.threads[0] != threading.current_thread().name


async def test_async_signer_from_uri_signs_local_keys_inline(
    key_files: tuple[LocalSigner, Path, Path],
) -> None:
    signer, private, public = key_files
    loaded = async_signer_from_uri(private)
    assert await loaded.public_key() == signer.public_key()
    assert signer.public_key().verify(await loaded.sign(b"m"), b"m")
    assert (await async_verifier_from_uri(public)).public_key() == signer.public_key()


async def test_async_verifier_from_uri_prefers_the_providers_async_factories() -> None:
    calls: list[str] = []
    key = LocalSigner.generate().public_key()

    async def async_verifier(reference: str, **options: Any) -> PublicKey:
        calls.append(f"async_verifier {reference} {options}")
        return key

    def verifier(reference: str, **options: Any) -> PublicKey:
        calls.append(f"verifier in {threading.current_thread().name}")
        return key

    full = SignerProvider(RecordingSigner, verifier=verifier, async_verifier=async_verifier)
    with register_signer("full", full):
        assert await async_verifier_from_uri("full://k", region="eu") is key
        assert verifier_from_uri("full://k") is key
    assert calls[0] == "async_verifier full://k {'region': 'eu'}"
    with register_signer("synconly", SignerProvider(RecordingSigner, verifier=verifier)):
        assert await async_verifier_from_uri("synconly://k") is key
    assert calls[-1] != f"verifier in {threading.current_thread().name}"
    with register_signer("asynconly", SignerProvider(RecordingSigner, RecordingAsyncSigner)):
        assert isinstance(await async_verifier_from_uri("asynconly://k"), PublicKey)
    with register_signer("plain", RecordingSigner):
        assert isinstance(verifier_from_uri("plain://k"), PublicKey)  # the signer's public key


def test_reset_signer_registry_keeps_only_the_builtins() -> None:
    register_signer("vault", RecordingSigner)
    unregister_signer("env")
    reset_signer_registry()
    assert registered_schemes(include_entry_points=False) == ["env", "file", "gcpkms"]


# -- entry points ---------------------------------------------------------------------------------


def _fake_distribution(
    root: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]
) -> None:
    """Write an installed distribution (a .dist-info and modules) under ``root``."""
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"  # as wheels name it
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{key} = {value}\n" for key, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


_PLUGIN_MODULE = """
    from imagesig.signers import LocalSigner

    KEY = LocalSigner.generate()

    def factory(reference, **options):
        return KEY
"""


def test_entry_points_load_lazily_and_only_for_their_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(
        tmp_path,
        "lazy-plugins",
        {"lazya": "lazy_mod_a:factory", "lazyb": "lazy_mod_b:factory"},
        {"lazy_mod_a": _PLUGIN_MODULE, "lazy_mod_b": _PLUGIN_MODULE},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert {"lazya", "lazyb"} <= set(registered_schemes())
    assert "lazya" not in registered_schemes(include_entry_points=False)
    assert "lazy_mod_a" not in sys.modules
    signer = signer_from_uri("lazya://anything")
    assert "lazy_mod_a" in sys.modules
    assert "lazy_mod_b" not in sys.modules
    assert signer is sys.modules["lazy_mod_a"].KEY
    assert "lazya" in registered_schemes(include_entry_points=False)
    with pytest.raises(SignerError, match=r"already registered \(entry point lazya"):
        register_signer("lazya", RecordingSigner)


def test_entry_points_cannot_take_over_builtin_schemes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_files: tuple[LocalSigner, Path, Path]
) -> None:
    _fake_distribution(
        tmp_path, "hijack", {"file": "hijack_mod:factory"}, {"hijack_mod": _PLUGIN_MODULE}
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(signer_from_uri(f"file://{key_files[1]}"), LocalSigner)
    assert "hijack_mod" not in sys.modules


def test_two_plugins_for_one_scheme_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(tmp_path, "twin-one", {"twin": "twin_one:factory"}, {})
    _fake_distribution(tmp_path, "twin-two", {"twin": "twin_two:factory"}, {})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SignerError, match="several installed plugins") as caught:
        signer_from_uri("twin://key")
    assert "twin-one 1.0" in str(caught.value)
    assert "twin-two 1.0" in str(caught.value)


def test_a_broken_plugin_is_reported_with_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(
        tmp_path,
        "broken",
        {"broken": "broken_mod:factory", "notcallable": "broken_value:VALUE"},
        {"broken_mod": "raise ImportError('needs libfoo')\n", "broken_value": "VALUE = 42\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SignerError, match="failed to load") as caught:
        signer_from_uri("broken://key")
    assert "broken = broken_mod:factory (broken 1.0)" in str(caught.value)
    assert isinstance(caught.value.__cause__, ImportError)
    with pytest.raises(SignerError, match="is not usable"):
        signer_from_uri("notcallable://key")


# -- staying light ---------------------------------------------------------------------------------


def test_local_keys_never_import_google_cloud_kms_or_grpc(
    key_files: tuple[LocalSigner, Path, Path],
) -> None:
    _, private, public = key_files
    code = textwrap.dedent(
        f"""
        import asyncio, sys
        import imagesig, imagesig.signers
        from imagesig.signers import (signer_from_uri, verifier_from_uri,
            async_signer_from_uri, async_verifier_from_uri, registered_schemes)
        signer = signer_from_uri({str(private)!r})
        assert verifier_from_uri({str(public)!r}).verify(signer.sign(b"x"), b"x")
        async def main():
            signer = async_signer_from_uri({str(private)!r})
            await signer.sign(b"x")
            await async_verifier_from_uri({str(public)!r})
        asyncio.run(main())
        registered_schemes()
        heavy = [m for m in ("google.cloud.kms", "google.cloud.kms_v1", "grpc",
                             "google_crc32c", "google.api_core") if m in sys.modules]
        print(",".join(heavy))
        imagesig.signers.GcpKmsSigner  # the class is there; google-cloud-kms waits for a call
        print("imagesig.signers.gcpkms" in sys.modules, "grpc" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    heavy, after_attribute = result.stdout.splitlines()
    assert heavy == ""
    assert after_attribute == "True False"


# -- the example plugin package --------------------------------------------------------------


@pytest.fixture(scope="session")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``examples/plugin`` installed with pip into a private directory (one per worker).

    With the build backend (hatchling) in the environment the build is offline; without it
    pip fetches the backend into an isolated build environment.

    ``--target`` keeps the shared virtual environment untouched, so parallel workers and
    concurrent runs cannot race; the directory is put on ``sys.path`` (or ``PYTHONPATH``)
    by the tests that use it, where ``importlib.metadata`` finds its entry point.
    """
    target = tmp_path_factory.mktemp("plugin-site")
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--target",
        str(target),
    ]
    if importlib.util.find_spec("hatchling") is not None:  # the dev extra installs it
        command += ["--no-build-isolation", "--no-index"]  # offline, and quick
    result = subprocess.run(
        [*command, str(PLUGIN_SOURCE)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"pip could not install the example plugin:\n{result.stderr}"
    assert (target / "imagesig_keydir" / "__init__.py").is_file()
    return target


@pytest.fixture
def keydir_plugin(installed_plugin: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(installed_plugin))
    return importlib.import_module("imagesig_keydir")


def test_example_plugin_signs_and_verifies_through_key_references(
    keydir_plugin: Any, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    public = keydir_plugin.generate("release", keys, password="pw")
    signer = signer_from_uri("keydir://release", directory=keys, password="pw")
    assert signer.name == "keydir://release"
    assert signer.public_key() == public
    signature = signer.sign(b"image manifest")
    (keys / "release.key").unlink()  # verification needs only release.pub
    verifier = verifier_from_uri("keydir://release", directory=str(keys))
    assert verifier.verify(signature, b"image manifest")
    assert not verifier.verify(signature, b"another manifest")


async def test_example_plugin_works_with_the_async_api(
    keydir_plugin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keydir_plugin.generate("ci", tmp_path)
    monkeypatch.setenv("IMAGESIG_KEYDIR", str(tmp_path))
    monkeypatch.setenv("COSIGN_PASSWORD", "")
    signer = async_signer_from_uri("keydir://ci")
    signatures = await asyncio.gather(*(signer.sign(b"%d" % n) for n in range(4)))
    verifier = await async_verifier_from_uri("keydir://ci")
    assert all(verifier.verify(sig, b"%d" % n) for n, sig in enumerate(signatures))


def test_example_plugin_refuses_names_that_leave_its_directory(
    keydir_plugin: Any, tmp_path: Path
) -> None:
    with pytest.raises(KeyFormatError, match="key names are"):
        signer_from_uri("keydir://../etc/passwd", directory=tmp_path)
    with pytest.raises(SignerError, match="no key directory"):
        signer_from_uri("keydir://release")


def test_example_plugin_is_found_by_a_fresh_interpreter(
    keydir_plugin: Any, installed_plugin: Path, tmp_path: Path
) -> None:
    keydir_plugin.generate("app", tmp_path)
    code = textwrap.dedent(
        f"""
        import sys
        from imagesig.signers import signer_from_uri, verifier_from_uri
        assert "imagesig_keydir" not in sys.modules
        signer = signer_from_uri("keydir://app", directory={str(tmp_path)!r}, password="")
        assert "imagesig_keydir" in sys.modules
        pub = verifier_from_uri("keydir://app", directory={str(tmp_path)!r})
        print(pub.verify(signer.sign(b"m"), b"m"))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(installed_plugin)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
