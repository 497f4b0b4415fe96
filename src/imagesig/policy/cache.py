"""The verification cache behind ``useCache``: verified digests (and statements) for a while.

Kyverno keeps successful verifications for an hour, keyed by policy, rule and image string,
and on a hit pins a tagged image to whatever the registry answers *then* (kyverno.md §2.9),
which lets a tag re-pointed within the hour through unverified. Here an entry stores what was
verified:

* the **key** is the verification asked for (a fingerprint of the entry's attestors,
  attestations, ``repository`` and type, made by the evaluator) plus Kyverno's normalised
  image string: the digest for ``repo@sha256:…`` and ``repo:tag@sha256:…``, the tag only for
  a tagged image;
* the **value** is the digest that verified and the verified in-toto statements. A hit pins
  the image to that digest, never to a fresh lookup, so a tag cannot smuggle in another
  digest; attestation conditions and ``validate.deny`` are evaluated again on the cached
  statements (Kyverno skips them on a hit, kyverno#17173).

Only passes are stored: a failure is verified again next time. Entries expire after ``ttl``
seconds; beyond ``max_entries`` the least recently used entry goes. The cache is safe to
share between threads and between the evaluations of one event loop. Share one only between
evaluators that trust the same keys, logs and registries: its key does not cover them.

Example::

    cache = VerificationCache(ttl=600)
    evaluator = PolicyEvaluator(policies, client=client, cache=cache)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Final

import attrs

__all__ = [
    "DEFAULT_CACHE_MAX_ENTRIES",
    "DEFAULT_CACHE_TTL",
    "CachedVerification",
    "VerificationCache",
]

#: Kyverno's ``--imageVerifyCacheTTLDuration`` default: one hour.
DEFAULT_CACHE_TTL: Final = 3600.0
#: Kyverno's ``--imageVerifyCacheMaxSize`` default.
DEFAULT_CACHE_MAX_ENTRIES: Final = 1000


@attrs.frozen
class CachedVerification:
    """What a passed verification leaves in the cache.

    Attributes:
        digest: the manifest digest that verified (``sha256:…``).
        statements: per attestation (by its index in the entry), the verified in-toto
            statements of the type asked for, as JSON objects.
    """

    digest: str
    statements: Mapping[int, tuple[Mapping[str, Any], ...]] = attrs.field(factory=dict)


@attrs.define
class _Slot:
    value: CachedVerification
    expires: float


class VerificationCache:
    """A thread-safe TTL cache of passed verifications (see the module notes).

    Args:
        ttl: seconds an entry is used for; ``0`` or less means Kyverno's one hour.
        max_entries: most entries kept; ``0`` or less means Kyverno's 1000.
        clock: a monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        ttl: float = DEFAULT_CACHE_TTL,
        max_entries: int = DEFAULT_CACHE_MAX_ENTRIES,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl if ttl > 0 else DEFAULT_CACHE_TTL
        self.max_entries = max_entries if max_entries > 0 else DEFAULT_CACHE_MAX_ENTRIES
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: OrderedDict[Hashable, _Slot] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> CachedVerification | None:
        """Return the live entry for ``key``, or ``None`` (expired entries are dropped)."""
        now = self._clock()
        with self._lock:
            slot = self._slots.get(key)
            if slot is None or slot.expires <= now:
                if slot is not None:
                    del self._slots[key]
                self.misses += 1
                return None
            self._slots.move_to_end(key)
            self.hits += 1
            return slot.value

    def put(self, key: Hashable, value: CachedVerification) -> None:
        """Store a passed verification for :attr:`ttl` seconds."""
        expires = self._clock() + self.ttl
        with self._lock:
            self._slots[key] = _Slot(value, expires)
            self._slots.move_to_end(key)
            while len(self._slots) > self.max_entries:
                self._slots.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._slots.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)

    def __repr__(self) -> str:
        return (
            f"VerificationCache(entries={len(self)}, ttl={self.ttl:g}, "
            f"max_entries={self.max_entries}, hits={self.hits}, misses={self.misses})"
        )
