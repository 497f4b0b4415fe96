"""Start a real ``docker-registry`` (CNCF distribution 2.8) on 127.0.0.1 for integration tests.

:func:`start_registry` is a context manager that writes a config under ``workdir``, launches
``docker-registry serve`` on a free loopback port, waits until ``GET /v2/`` answers, yields a
:class:`RunningRegistry`, and stops the process (by PID) on exit.

The binary is looked up as ``$IMAGESIG_REGISTRY_BINARY`` or ``docker-registry`` on ``PATH``. If
it is missing the calling test is skipped, unless ``IMAGESIG_REQUIRE_REGISTRY`` is set to a
non-empty value other than ``0``/``false``/``no`` (CI does this), in which case it fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import bcrypt
import httpx
import pytest

from .token_server import Permissions, TokenServer

__all__ = [
    "AuthMode",
    "PushedImage",
    "RegistryStartError",
    "RunningRegistry",
    "find_registry_binary",
    "push_test_image",
    "start_registry",
]

AuthMode = Literal["none", "htpasswd", "token"]

BINARY_ENV = "IMAGESIG_REGISTRY_BINARY"
REQUIRE_ENV = "IMAGESIG_REQUIRE_REGISTRY"
_BIND_ATTEMPTS = 5
_STOP_GRACE_SECONDS = 5.0
_LOG_TAIL_CHARS = 4000
# Permissions given to users of a token registry whose token server start_registry creates.
_FULL_ACCESS: Permissions = {"*": ["pull", "push", "delete"]}


class RegistryStartError(RuntimeError):
    """The registry process could not be started or did not become ready."""


@dataclass(frozen=True)
class RunningRegistry:
    """A live registry process. Only valid inside the ``start_registry`` block."""

    #: ``127.0.0.1:PORT`` (what goes into an image reference)
    host: str
    #: ``http://127.0.0.1:PORT``
    url: str
    #: storage root directory (``storage.filesystem.rootdirectory``)
    root: Path
    #: the directory holding config, logs, htpasswd and storage
    workdir: Path
    config_path: Path
    #: combined stdout/stderr of the registry process
    log_path: Path
    pid: int
    auth: AuthMode
    #: first configured user and its password (``None`` for ``auth="none"``)
    username: str | None = None
    password: str | None = None
    #: every configured user -> password (htpasswd users, or token server users)
    users: Mapping[str, str] = field(default_factory=dict)
    token_server: TokenServer | None = None

    @property
    def port(self) -> int:
        return int(self.host.rpartition(":")[2])

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        """The end of the registry's own log (refusal reasons show up there at ``info``)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in {"", "0", "false", "no"}


def find_registry_binary() -> str:
    """Path of the registry binary; skips (or fails, under ``IMAGESIG_REQUIRE_REGISTRY``)."""
    configured = os.environ.get(BINARY_ENV)
    found = shutil.which(configured or "docker-registry")
    if found is not None:
        return found
    what = f"{BINARY_ENV}={configured!r}" if configured else "'docker-registry' on PATH"
    message = f"registry integration tests need {what} (Debian/Ubuntu: apt install docker-registry)"
    if _env_flag(REQUIRE_ENV):
        pytest.fail(f"{message}; {REQUIRE_ENV} is set, so this is an error", pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_htpasswd(path: Path, users: Mapping[str, str]) -> None:
    lines = []
    for name, password in users.items():
        if ":" in name:
            raise ValueError(f"htpasswd user names cannot contain ':' ({name!r})")
        # cost 4 (the minimum) keeps the registry's per-request bcrypt check fast
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        lines.append(f"{name}:{hashed}\n")
    path.write_text("".join(lines))


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build_config(
    *,
    port: int,
    root: Path,
    auth: AuthMode,
    delete_enabled: bool,
    htpasswd_path: Path,
    token_server: TokenServer | None,
    extra_config: Mapping[str, Any] | None,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": delete_enabled},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    if auth == "htpasswd":
        config["auth"] = {"htpasswd": {"realm": "imagesig-test", "path": str(htpasswd_path)}}
    elif auth == "token":
        assert token_server is not None
        config["auth"] = {
            "token": {
                "realm": token_server.realm,
                "service": token_server.service,
                "issuer": token_server.issuer,
                "rootcertbundle": str(token_server.cert_path),
            }
        }
    if extra_config:
        config = _deep_merge(config, extra_config)
    return config


def _registry_env() -> dict[str, str]:
    # distribution overrides config keys from REGISTRY_* variables; never inherit any.
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


def _socket_inodes_of(pid: int) -> set[str] | None:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    inodes: set[str] = set()
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:[") : -1])
    return inodes


def _owns_listener(pid: int, port: int) -> bool | None:
    """Whether ``pid`` holds the socket listening on 127.0.0.1:``port`` (``None``: can't tell).

    Guards against another process that grabbed the same port between our probe and the
    registry's bind (the poll would then succeed against the wrong server).
    """
    inodes = _socket_inodes_of(pid)
    if inodes is None:
        return None
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    wanted_local = f"0100007F:{port:04X}"
    for line in table:
        fields = line.split()
        # fields: sl local_address rem_address st ... inode (index 9); st 0A = LISTEN
        if len(fields) > 9 and fields[1] == wanted_local and fields[3] == "0A":
            return fields[9] in inodes
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=_STOP_GRACE_SECONDS)


def _wait_ready(
    proc: subprocess.Popen[bytes], url: str, port: int, deadline: float
) -> Literal["ready", "exited"]:
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return "exited"
            try:
                response = client.get(f"{url}/v2/")
            except httpx.TransportError:
                time.sleep(0.02)
                continue
            is_registry = response.headers.get("Docker-Distribution-Api-Version") == "registry/2.0"
            if response.status_code in (200, 401) and is_registry:
                if proc.poll() is not None:
                    return "exited"
                if _owns_listener(proc.pid, port) is not False:
                    return "ready"
                # another process answered on our port: ours will fail to bind and exit,
                # which the next iteration notices
            time.sleep(0.02)
    raise TimeoutError


@contextlib.contextmanager
def start_registry(
    workdir: Path,
    *,
    auth: AuthMode = "none",
    users: Mapping[str, str] | None = None,
    delete_enabled: bool = True,
    token_server: TokenServer | None = None,
    anonymous: Permissions | None = None,
    extra_config: Mapping[str, Any] | None = None,
    startup_timeout: float = 15.0,
) -> Iterator[RunningRegistry]:
    """Run ``docker-registry serve`` on 127.0.0.1 for the duration of the ``with`` block.

    ``auth="htpasswd"``: ``users`` (name -> password) go into a bcrypt htpasswd file; when
    omitted a single user ``alice`` with a random password is created.

    ``auth="token"``: pass a started :class:`TokenServer` (its users are reported in
    ``RunningRegistry.users``), or let this function start one in which every user in ``users``
    (default: ``alice`` with a random password) may pull, push and delete everywhere and
    ``anonymous`` (default: nothing) applies to clients without credentials; a token server
    created here is stopped on exit.

    ``extra_config`` is deep-merged into the generated configuration.
    """
    binary = find_registry_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / "storage"
    root.mkdir(exist_ok=True)
    config_path = workdir / "config.yml"
    log_path = workdir / "registry.log"
    htpasswd_path = workdir / "htpasswd"

    if users is None and not (auth == "token" and token_server is not None):
        users = {"alice": secrets.token_urlsafe(16)} if auth != "none" else {}
    users = dict(users or {})

    with contextlib.ExitStack() as stack:
        if auth == "htpasswd":
            if not users:
                raise ValueError("auth='htpasswd' needs at least one user")
            _write_htpasswd(htpasswd_path, users)
        elif auth == "token":
            if token_server is None:
                token_server = TokenServer(
                    workdir / "token-signer.pem",
                    users={name: (pw, _FULL_ACCESS) for name, pw in users.items()},
                    anonymous=anonymous,
                )
                stack.enter_context(token_server)
            else:
                token_server.start()
                users = {name: entry[0] for name, entry in token_server.users.items()}
        elif auth != "none":
            raise ValueError(f"unknown auth mode {auth!r}")

        proc, port = _launch(
            binary,
            workdir=workdir,
            config_path=config_path,
            log_path=log_path,
            deadline=time.monotonic() + startup_timeout,
            make_config=lambda port: _build_config(
                port=port,
                root=root,
                auth=auth,
                delete_enabled=delete_enabled,
                htpasswd_path=htpasswd_path,
                token_server=token_server,
                extra_config=extra_config,
            ),
        )
        stack.callback(_stop, proc)
        first = next(iter(users.items()), None)
        yield RunningRegistry(
            host=f"127.0.0.1:{port}",
            url=f"http://127.0.0.1:{port}",
            root=root,
            workdir=workdir,
            config_path=config_path,
            log_path=log_path,
            pid=proc.pid,
            auth=auth,
            username=first[0] if first else None,
            password=first[1] if first else None,
            users=users,
            token_server=token_server if auth == "token" else None,
        )


def _launch(
    binary: str,
    *,
    workdir: Path,
    config_path: Path,
    log_path: Path,
    deadline: float,
    make_config: Callable[[int], dict[str, Any]],
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the registry, retrying on a fresh port if the chosen one was taken meanwhile."""
    last_log = ""
    for _attempt in range(_BIND_ATTEMPTS):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        # JSON is valid YAML, and the registry's YAML parser reads it fine
        config_path.write_text(json.dumps(make_config(port), indent=2) + "\n")
        with log_path.open("ab") as log:
            log_start = log.tell()  # this attempt's output starts here
            proc = subprocess.Popen(  # our own process group: terminal signals don't reach it
                [binary, "serve", str(config_path)],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_registry_env(),
                start_new_session=True,
            )
        try:
            outcome = _wait_ready(proc, url, port, deadline)
        except TimeoutError:
            _stop(proc)
            raise RegistryStartError(
                f"docker-registry did not answer on {url}/v2/ in time; log tail:\n"
                f"{log_path.read_text(errors='replace')[-_LOG_TAIL_CHARS:]}"
            ) from None
        except BaseException:
            _stop(proc)
            raise
        if outcome == "ready":
            return proc, port
        with log_path.open("rb") as log:
            log.seek(log_start)
            last_log = log.read().decode(errors="replace")[-_LOG_TAIL_CHARS:]
        if "address already in use" not in last_log:
            raise RegistryStartError(
                f"docker-registry exited with status {proc.returncode} during start-up; "
                f"log tail:\n{last_log}"
            )
        if time.monotonic() >= deadline:
            break
    raise RegistryStartError(f"docker-registry could not bind a free port; log tail:\n{last_log}")


# -- seeding helpers (plain httpx, independent of imagesig) -------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PushedImage:
    repository: str
    tag: str
    #: digest of the manifest bytes
    digest: str
    manifest: bytes
    config: bytes
    layers: tuple[bytes, ...]

    @property
    def blobs(self) -> dict[str, bytes]:
        """Every blob (config and layers) by digest."""
        return {_digest(b): b for b in (self.config, *self.layers)}


def _push_blob(client: httpx.Client, base: str, repository: str, data: bytes) -> None:
    digest = _digest(data)
    head = client.head(f"{base}/v2/{repository}/blobs/{digest}")
    if head.status_code == 200:
        return
    started = client.post(f"{base}/v2/{repository}/blobs/uploads/")
    if started.status_code != 202:
        raise RuntimeError(f"starting blob upload: {started.status_code} {started.text}")
    # keep the Location's own query (_state=...): passing params= would replace it
    target = started.url.join(started.headers["Location"]).copy_add_param("digest", digest)
    done = client.put(target, content=data, headers={"Content-Type": "application/octet-stream"})
    if done.status_code != 201:
        raise RuntimeError(f"finishing blob upload: {done.status_code} {done.text}")


def push_test_image(
    client: httpx.Client,
    registry_url: str,
    repository: str,
    tag: str = "latest",
    *,
    layers: tuple[bytes, ...] = (b"imagesig test layer\n",),
) -> PushedImage:
    """Push a tiny OCI image (config + layers + manifest) with an already-authorized client."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer) for layer in layers]},
        },
        sort_keys=True,
    ).encode()
    for blob in (config, *layers):
        _push_blob(client, registry_url, repository, blob)

    def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": _digest(data), "size": len(data)}

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
        },
        sort_keys=True,
    ).encode()
    put = client.put(
        f"{registry_url}/v2/{repository}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    if put.status_code != 201:
        raise RuntimeError(f"pushing manifest: {put.status_code} {put.text}")
    return PushedImage(
        repository=repository,
        tag=tag,
        digest=_digest(manifest),
        manifest=manifest,
        config=config,
        layers=tuple(layers),
    )
