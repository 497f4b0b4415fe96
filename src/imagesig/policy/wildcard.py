"""Kyverno's wildcard matching, with the same answers and a linear running time.

Kyverno compares image references, names, namespaces, annotations, kinds, keyless subjects
and the ``Equals``/``*In`` condition operators with one matcher. Its rules:

* ``*`` matches any run of characters, including none and including ``/``, ``:`` and ``@``
  (a path is a flat string);
* ``?`` matches exactly one character;
* every other character matches itself; there is no escape and no character class; case
  matters;
* the pattern must cover the whole text: ``""`` matches only ``""``, and ``*`` matches
  everything.

Characters are Unicode code points, as Go's runes are for valid UTF-8.

Kyverno's matcher backtracks recursively and is exponential on patterns such as
``*a*a*a*a*b``. This one splits the pattern at its stars: the part before the first star must
start the text, the part after the last star must end it, and the parts in between are found
left to right, each at its leftmost place after the previous one. Taking the leftmost place is
never wrong (any match can be slid left), so there is no backtracking; each character of the
text is looked at by at most one part, and parts containing ``?`` are found with a
bit-parallel scan. Long or hostile patterns (ten thousand stars, ``(a+)+$``) cost time in
proportion to their length.

Example:
    >>> match("ghcr.io/kyverno*", "ghcr.io/kyverno/test-verify-image:signed")
    True
    >>> match("nginx:*", "docker.io/nginx:latest")
    False
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import attrs

__all__ = ["WildcardPattern", "contains_wildcard", "match", "match_any"]

_STAR = "*"
_ANY = "?"
# Patterns are compiled once and kept; policies reuse a handful of patterns many times.
_CACHE_SIZE = 4096


def contains_wildcard(text: str) -> bool:
    """Tell whether ``text`` holds ``*`` or ``?`` (Kyverno's ``ContainsWildcard``)."""
    return _STAR in text or _ANY in text


@attrs.frozen
class _Part:
    """A star-free piece of a pattern, with its bit masks when it contains ``?``."""

    text: str
    has_any: bool
    any_mask: int = 0
    masks: dict[str, int] = attrs.field(factory=dict, eq=False)

    @classmethod
    def build(cls, text: str) -> _Part:
        if _ANY not in text:
            return cls(text, False)
        any_mask = 0
        masks: dict[str, int] = {}
        for index, char in enumerate(text):
            bit = 1 << index
            if char == _ANY:
                any_mask |= bit
            else:
                masks[char] = masks.get(char, 0) | bit
        return cls(text, True, any_mask, masks)

    def matches_at(self, text: str, start: int) -> bool:
        """Whether this part matches ``text`` at ``start`` (the caller checked the length)."""
        if not self.has_any:
            return text.startswith(self.text, start)
        return all(
            expected in (_ANY, actual)
            for expected, actual in zip(
                self.text, text[start : start + len(self.text)], strict=True
            )
        )

    def find(self, text: str, start: int, end: int) -> int:
        """Leftmost index in ``[start, end)`` where this part matches entirely, or -1."""
        size = len(self.text)
        if end - start < size:
            return -1
        if not self.has_any:
            return text.find(self.text, start, end)
        if not self.masks:  # only '?': any place with room will do
            return start
        # Shift-And: bit i of `state` says "the first i+1 characters match ending here".
        goal = 1 << (size - 1)
        state = 0
        masks = self.masks
        any_mask = self.any_mask
        for index in range(start, end):
            state = ((state << 1) | 1) & (masks.get(text[index], 0) | any_mask)
            if state & goal:
                return index - size + 1
        return -1


@attrs.frozen
class WildcardPattern:
    """A compiled wildcard pattern; :func:`match` compiles and caches these for you.

    Attributes:
        pattern: the pattern as written.
    """

    pattern: str
    _head: _Part = attrs.field(alias="head", repr=False)
    _middle: tuple[_Part, ...] = attrs.field(alias="middle", repr=False)
    _tail: _Part | None = attrs.field(alias="tail", repr=False)

    @classmethod
    def compile(cls, pattern: str) -> WildcardPattern:
        """Compile ``pattern``.

        Args:
            pattern: the wildcard pattern.

        Returns:
            The compiled pattern.
        """
        pieces = pattern.split(_STAR)
        head = _Part.build(pieces[0])
        if len(pieces) == 1:
            return cls(pattern, head=head, middle=(), tail=None)
        middle = tuple(_Part.build(piece) for piece in pieces[1:-1] if piece)
        return cls(pattern, head=head, middle=middle, tail=_Part.build(pieces[-1]))

    def matches(self, text: str) -> bool:
        """Tell whether the pattern covers the whole of ``text``."""
        head = self._head
        tail = self._tail
        if tail is None:  # no star: same length, character by character
            return len(text) == len(head.text) and head.matches_at(text, 0)
        end = len(text) - len(tail.text)
        if end < len(head.text):
            return False
        if not head.matches_at(text, 0) or not tail.matches_at(text, end):
            return False
        position = len(head.text)
        for part in self._middle:
            found = part.find(text, position, end)
            if found < 0:
                return False
            position = found + len(part.text)
        return True


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compiled(pattern: str) -> WildcardPattern:
    return WildcardPattern.compile(pattern)


def match(pattern: str, text: str) -> bool:
    """Match ``text`` against ``pattern`` exactly as Kyverno's ``wildcard.Match`` does.

    Args:
        pattern: the pattern, with ``*`` and ``?``.
        text: the text to test.

    Returns:
        ``True`` when the pattern covers the whole text.
    """
    if pattern == _STAR:
        return True
    if _STAR not in pattern and _ANY not in pattern:
        return pattern == text
    return _compiled(pattern).matches(text)


def match_any(patterns: Iterable[str], text: str) -> bool:
    """Tell whether any of ``patterns`` matches ``text`` (``False`` for no patterns)."""
    return any(match(pattern, text) for pattern in patterns)
