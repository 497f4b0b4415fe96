"""Fixtures for the attack tests: hostile registries and stores pointed at them.

``hostile_registry`` starts :class:`~tests.support.hostile_registry.HostileRegistry` instances
(call it once per host you need; each gets its own 127.0.0.1 port) and, at teardown, closes
them and fails the test if a server thread outlived ``close()`` or a behaviour raised.
``registry`` and ``evil`` are the two instances most tests need.

``open_store(mode)`` opens a store for the test and closes it afterwards: ``"sync"`` gives a
:class:`~imagesig.oci.registry.RegistryStore`, ``"async"`` an
:class:`~imagesig.oci.registry.AsyncRegistryStore` behind :class:`AsyncStoreRunner`, so one
test body exercises both drivers. Stores never read the environment (no proxies, no docker
config): credentials come only from the ``keychain`` a test passes.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
from tests.support.hostile_registry import (
    AsyncHostMapTransport,
    HostileRegistry,
    HostMapTransport,
)

from imagesig.oci.credentials import Keychain, StaticKeychain
from imagesig.oci.registry import AsyncRegistryStore, RegistryStore, RetryPolicy

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.01, max_retry_after=1.0)
"""Three attempts with millisecond back-off: retries are exercised without slowing tests."""

STORE_TIMEOUT = httpx.Timeout(5.0)

_TLS = httpx.create_ssl_context()
"""One verifying TLS context for every test store: building one per client (loading the CA
bundle) costs ~40 ms, and these stores only ever speak plain HTTP to loopback anyway."""


class AsyncStoreRunner:
    """Drives an :class:`AsyncRegistryStore` from a sync test on a private event loop.

    Coroutine methods of the store become blocking calls with the same arguments, results
    and exceptions; other attributes (``auth``, ``keychain``...) pass through.
    """

    def __init__(self, **settings: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self.store = AsyncRegistryStore(**settings)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.store, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(attribute(*args, **kwargs))

        return call

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self.store.aclose())
            # As asyncio.run() does: finalise async generators left suspended (a body
            # iterator abandoned at a size cap) while the loop still runs.
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()


@pytest.fixture
def hostile_registry() -> Iterator[Callable[[str], HostileRegistry]]:
    """Start hostile registries by name; all are closed (and checked) after the test."""
    servers: list[HostileRegistry] = []

    def start(name: str = "registry") -> HostileRegistry:
        server = HostileRegistry(name).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
    leaked = [thread.name for server in servers for thread in server.threads_alive()]
    assert not leaked, f"server threads still running after close(): {leaked}"
    failures = [failure for server in servers for failure in server.failures]
    assert not failures, f"behaviours raised: {failures}"


@pytest.fixture
def registry(hostile_registry: Callable[[str], HostileRegistry]) -> HostileRegistry:
    """The registry the store talks to."""
    return hostile_registry("registry")


@pytest.fixture
def evil(hostile_registry: Callable[[str], HostileRegistry]) -> HostileRegistry:
    """Another origin (a different port on 127.0.0.1) the registry tries to send us to."""
    return hostile_registry("evil")


@pytest.fixture
def open_store(
    hostile_registry: Callable[[str], HostileRegistry],
) -> Iterator[Callable[..., Any]]:
    """Open a sync or async registry store for this test (closed before the servers stop).

    ``open_store(mode="sync", *, keychain=None, hosts=None, **settings)``: ``hosts`` maps
    made-up host names to hostile registries (see ``HostMapTransport``) and lists them as
    insecure (plain HTTP); ``settings`` go to the store's constructor.
    """
    opened: list[Any] = []

    def open_(
        mode: str = "sync",
        *,
        keychain: Keychain | None = None,
        hosts: Mapping[str, HostileRegistry] | None = None,
        **settings: Any,
    ) -> Any:
        options: dict[str, Any] = {
            "keychain": keychain if keychain is not None else StaticKeychain({}),
            "trust_env": False,
            "verify": _TLS,
            "retry": FAST_RETRY,
            "timeout": STORE_TIMEOUT,
            **settings,
        }
        if hosts:
            options["transport"] = (HostMapTransport if mode == "sync" else AsyncHostMapTransport)(
                hosts, verify=_TLS
            )
            options.setdefault("insecure_registries", list(hosts))
        if mode == "sync":
            store: Any = RegistryStore(**options)
        elif mode == "async":
            store = AsyncStoreRunner(**options)
        else:
            raise ValueError(f"unknown store mode {mode!r}")
        opened.append(store)
        return store

    yield open_
    for store in reversed(opened):
        store.close()
