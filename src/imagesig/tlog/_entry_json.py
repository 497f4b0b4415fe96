"""Reading the JSON of log entries strictly: bounded, no duplicate keys, one error shape.

Shared by :mod:`imagesig.tlog.entries` and :mod:`imagesig.tlog.bodies`. Every failure is a
:class:`~imagesig.errors.TransparencyLogError` with ``check="entry-format"`` naming the
field, or a :class:`~imagesig.errors.SizeLimitExceededError` when a size cap is hit.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from imagesig.errors import SizeLimitExceededError, TransparencyLogError

__all__ = ["b64text", "format_error", "json_object", "load_json", "text_field"]


def format_error(message: str, field: str) -> TransparencyLogError:
    """The error for a malformed entry, naming the offending field."""
    return TransparencyLogError(
        f"malformed log entry: {message}", check="entry-format", field=field
    )


def load_json(data: bytes | str, what: str, limit: int) -> Any:
    """Parse JSON of at most ``limit`` bytes (or characters), refusing duplicate keys."""
    if len(data) > limit:
        raise SizeLimitExceededError(
            f"{what} is larger than {limit} bytes", check="entry-format", limit=limit
        )

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            raise format_error(f"{what} repeats a JSON key", what)
        return result

    try:
        return json.loads(data, object_pairs_hook=no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise format_error(f"{what} is not valid JSON", what) from exc


def json_object(value: object, field: str) -> Mapping[str, Any]:
    """``value`` when it is a JSON object."""
    if not isinstance(value, dict):
        raise format_error(f"{field} must be a JSON object", field)
    return value


def text_field(value: object, field: str) -> str:
    """``value`` when it is a non-empty string."""
    if not isinstance(value, str) or not value:
        raise format_error(f"{field} must be a non-empty string", field)
    return value


def b64text(data: bytes) -> str:
    """Standard base64 of ``data``, as text."""
    return base64.b64encode(data).decode("ascii")
