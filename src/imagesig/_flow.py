"""One implementation, two drivers: how imagesig serves sync and async callers.

Every protocol the library speaks (the registry API, signature discovery, policy evaluation)
is written once as a *flow*: a generator that never performs I/O itself. Whenever it needs
the outside world it yields an *effect* — "send this HTTP request", "sleep this long", "run
these effects together" — and receives the effect's result (or its exception, thrown back in).
:func:`drive_sync` runs a flow with blocking I/O, :func:`drive_async` with ``await``. This is
the pattern of ``httpx.Auth.auth_flow``, applied to whole operations.

Why this and not an async core run on a helper thread: the sync driver needs no event loop
at all, so the sync API works unchanged inside a running loop (a Jupyter cell), costs no
thread hop per call, and tracebacks stay in the caller's thread.

Effects implement :class:`Effect`: ``run_sync(env)`` and ``run_async(env)``, where ``env``
is whatever the driver was given (an ``httpx.Client`` for registry flows, a client façade for
higher layers). The sync driver runs a :class:`Gather` sequentially; the async one
concurrently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Hashable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import attrs

__all__ = [
    "Effect",
    "Exclusive",
    "Flow",
    "Gather",
    "KeyedLocks",
    "Sleep",
    "drive_async",
    "drive_sync",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Effect(Protocol[T_co]):
    """Something a flow asks its driver to do."""

    def run_sync(self, env: Any) -> T_co:
        """Perform the effect with blocking I/O."""

    async def run_async(self, env: Any) -> T_co:
        """Perform the effect in the running event loop."""


Flow = Generator["Effect[Any]", Any, T]
"""A generator yielding effects and returning ``T``."""


@attrs.frozen
class Sleep:
    """Wait ``seconds`` (used between retries)."""

    seconds: float

    def run_sync(self, env: Any) -> None:
        time.sleep(self.seconds)

    async def run_async(self, env: Any) -> None:
        import asyncio  # noqa: PLC0415 - loaded already whenever this runs; keeps import light

        await asyncio.sleep(self.seconds)


@attrs.frozen
class Gather(Generic[T]):
    """Run several flows; the async driver runs them concurrently, bounded by ``limit``.

    The result is the list of the flows' results in order. The first exception propagates
    (the async driver cancels the flows still running).
    """

    flows: Sequence[Flow[T]]
    limit: int = 8

    def run_sync(self, env: Any) -> list[T]:
        return [drive_sync(flow, env) for flow in self.flows]

    async def run_async(self, env: Any) -> list[T]:
        import asyncio  # noqa: PLC0415 - loaded already whenever this runs; keeps import light

        semaphore = asyncio.Semaphore(max(1, self.limit))

        async def bounded(flow: Flow[T]) -> T:
            async with semaphore:
                return await drive_async(flow, env)

        tasks = [asyncio.ensure_future(bounded(flow)) for flow in self.flows]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()


class KeyedLocks:
    """Named mutual exclusion usable by both drivers (see :class:`Exclusive`).

    The sync driver takes a ``threading.Lock`` per key; the async driver an
    ``asyncio.Lock`` per (event loop, key). Locks live as long as this object.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._thread_locks: dict[Hashable, threading.Lock] = {}
        self._loop_locks: dict[tuple[int, Hashable], Any] = {}

    def thread_lock(self, key: Hashable) -> threading.Lock:
        """The lock for ``key`` for blocking callers."""
        with self._guard:
            return self._thread_locks.setdefault(key, threading.Lock())

    def loop_lock(self, key: Hashable) -> Any:
        """The ``asyncio.Lock`` for ``key`` in the running event loop."""
        import asyncio  # noqa: PLC0415 - loaded already whenever this runs; keeps import light

        slot = (id(asyncio.get_running_loop()), key)
        with self._guard:
            lock = self._loop_locks.get(slot)
            if lock is None:
                lock = self._loop_locks[slot] = asyncio.Lock()
            return lock


@attrs.frozen
class Exclusive(Generic[T]):
    """Run ``flow`` while holding the lock named ``key`` (read-modify-write sections)."""

    locks: KeyedLocks
    key: Hashable
    flow: Flow[T]

    def run_sync(self, env: Any) -> T:
        with self.locks.thread_lock(self.key):
            return drive_sync(self.flow, env)

    async def run_async(self, env: Any) -> T:
        async with self.locks.loop_lock(self.key):
            return await drive_async(self.flow, env)


def drive_sync(flow: Flow[T], env: Any) -> T:
    """Run ``flow`` to completion with blocking I/O against ``env``."""
    value: Any = None
    error: Exception | None = None
    while True:
        try:
            effect = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        try:
            value, error = effect.run_sync(env), None
        except Exception as exc:  # handed back to the flow, which decides
            value, error = None, exc


async def drive_async(flow: Flow[T], env: Any) -> T:
    """Run ``flow`` to completion in the running event loop against ``env``."""
    value: Any = None
    error: Exception | None = None
    while True:
        try:
            effect = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        try:
            value, error = await effect.run_async(env), None
        except Exception as exc:  # handed back to the flow, which decides
            value, error = None, exc
