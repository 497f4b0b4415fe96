"""Bounded JSON reading and Go-compatible JSON writing for the signature formats.

Reading (:func:`load_json`) is strict where two parsers could disagree about signed content:
the byte size is capped before parsing, the text must be UTF-8, duplicate keys are refused at
every level, ``NaN``/``Infinity`` and out-of-range numbers are refused, integers longer than
:data:`MAX_INTEGER_DIGITS` digits are refused (Python's conversion is quadratic in their
length), and the nesting depth is capped.

Field lookup follows the parser the producer's verifier uses, so that imagesig reads the same
value cosign reads:

* :func:`go_fields` for structs decoded with Go's ``encoding/json`` (simple-signing payloads,
  DSSE envelopes), which matches keys case-insensitively and ignores unknown keys. Two keys
  that fold to one field are refused: Go would silently keep the last one.
* :func:`proto_fields` for messages decoded with protobuf's JSON mapping (bundles, in-toto
  statements), which accepts the JSON name or the proto field name, refuses unknown fields
  and refuses a field given twice under its two names.

Writing (:func:`encode`) produces compact JSON the way Go does: numbers are float64 printed in
the shortest form that reads back exactly (``1e+21`` and above and below ``1e-06`` in exponent
form), and with ``html_safe`` (Go's ``encoding/json``) ``<``, ``>``, ``&``, U+2028 and U+2029
are escaped. Objects keep their insertion order; callers sort map keys where Go sorts them.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from imagesig.errors import SignatureFormatError, SizeLimitExceededError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "MAX_INTEGER_DIGITS",
    "decode_base64",
    "encode",
    "encode_base64",
    "format_float",
    "go_fields",
    "json_equal",
    "load_json",
    "proto_fields",
    "sorted_tree",
]

#: Default cap on nesting (an object or array directly at the top is depth 1).
DEFAULT_MAX_DEPTH = 32
#: Longest integer literal accepted, sign included.
MAX_INTEGER_DIGITS = 64

_EXCERPT = 80
_BASE64_RE = re.compile(r"[A-Za-z0-9+/\-_]*={0,2}", re.ASCII)
_GO_HTML_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}

ErrorType = Callable[..., SignatureFormatError]


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."


def load_json(
    raw: bytes,
    *,
    what: str,
    max_bytes: int,
    error: ErrorType,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """Parse ``raw`` as one JSON value, within the caps.

    Args:
        raw: the bytes.
        what: names the document in messages (``"simple-signing payload"``).
        max_bytes: largest accepted input.
        error: the format error class to raise.
        max_depth: deepest accepted nesting.

    Returns:
        The parsed value (``dict``, ``list``, ``str``, ``int``, ``float``, ``bool`` or ``None``).

    Raises:
        SizeLimitExceededError: ``raw`` is longer than ``max_bytes`` or nests deeper than
            ``max_depth``.
        SignatureFormatError: (the ``error`` class) it is not UTF-8 JSON, or has a duplicate
            key, a non-finite number or an overlong integer.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise error(f"{what} must be bytes, not {type(raw).__name__}")
    size = len(raw)
    if size > max_bytes:
        raise SizeLimitExceededError(
            f"{what} is {size} bytes, more than the {max_bytes}-byte cap",
            what=what,
            size=size,
            limit=max_bytes,
        )
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not valid UTF-8") from exc

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise error(f"{what} has a duplicate key {_excerpt(key)!r}", field=_excerpt(key))
            result[key] = value
        return result

    def bounded_int(literal: str) -> int:
        if len(literal) > MAX_INTEGER_DIGITS:
            raise error(f"{what} has an integer of {len(literal)} digits")
        return int(literal)

    def finite_float(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            raise error(f"{what} has a number out of range: {_excerpt(literal)}")
        return value

    def no_constant(literal: str) -> Any:
        raise error(f"{what} has {literal}, which is not JSON")

    try:
        value = json.loads(
            text,
            object_pairs_hook=no_duplicates,
            parse_int=bounded_int,
            parse_float=finite_float,
            parse_constant=no_constant,
        )
    except SignatureFormatError:
        raise
    except RecursionError as exc:
        raise _too_deep(what, max_depth) from exc
    except ValueError as exc:
        raise error(f"{what} is not valid JSON: {_excerpt(str(exc))}") from exc
    _check_depth(value, what, max_depth)
    return value


def _too_deep(what: str, max_depth: int) -> SizeLimitExceededError:
    return SizeLimitExceededError(
        f"{what} nests deeper than {max_depth} levels", what=what, limit=max_depth
    )


def _check_depth(value: Any, what: str, max_depth: int) -> None:
    # Iterative, so that checking never recurses however deep the input is.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise _too_deep(what, max_depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _go_fold(key: str) -> str:
    # Go's encoding/json matches field names with Unicode simple case folding. The field
    # names here are ASCII; the only non-ASCII runes that fold onto ASCII letters are the
    # Kelvin sign (lowered to "k" by str.lower) and the long s.
    return key.lower().replace("\u017f", "s")


def go_fields(
    obj: Mapping[str, Any], names: Iterable[str], *, where: str, error: ErrorType
) -> dict[str, Any]:
    """Pick the values Go's ``encoding/json`` would decode into a struct with ``names``.

    Args:
        obj: the parsed JSON object.
        names: the struct's JSON field names (ASCII).
        where: names the object in messages.
        error: the format error class to raise.

    Returns:
        ``{name: value}`` for each field present; unknown keys are ignored, as Go does.

    Raises:
        SignatureFormatError: (the ``error`` class) two keys fold to the same field.
    """
    folded = {_go_fold(name): name for name in names}
    found: dict[str, Any] = {}
    for key, value in obj.items():
        name = folded.get(_go_fold(key))
        if name is None:
            continue
        if name in found:
            raise error(
                f"{where} has two keys for field {name!r} (they differ only in case)",
                field=name,
            )
        found[name] = value
    return found


def proto_fields(
    obj: Mapping[str, Any],
    names: Mapping[str, str],
    *,
    where: str,
    error: ErrorType,
    oneofs: Iterable[frozenset[str]] = (),
) -> dict[str, Any]:
    """Pick a message's fields the way protobuf's JSON mapping does.

    Args:
        obj: the parsed JSON object.
        names: every accepted spelling (JSON name and proto field name) mapped to the JSON
            name.
        where: names the message in messages.
        error: the format error class to raise.
        oneofs: groups of JSON names of which at most one may be set.

    Returns:
        ``{json_name: value}`` for each field present and not ``null`` (protobuf reads
        ``null`` as unset).

    Raises:
        SignatureFormatError: (the ``error`` class) an unknown field, a field given under
            both of its names, or two members of one oneof.
    """
    seen: set[str] = set()
    found: dict[str, Any] = {}
    for key, value in obj.items():
        name = names.get(key)
        if name is None:
            raise error(f"{where} has an unknown field {_excerpt(key)!r}", field=_excerpt(key))
        if name in seen:
            raise error(f"{where} has field {name!r} twice", field=name)
        seen.add(name)
        if value is not None:
            found[name] = value
    for group in oneofs:
        present = sorted(group & found.keys())
        if len(present) > 1:
            raise error(f"{where} sets {' and '.join(present)}, of which only one is allowed")
    return found


def decode_base64(
    text: Any, *, field: str, error: ErrorType, max_bytes: int | None = None
) -> bytes:
    """Decode standard or URL-safe base64, padded or not (never both alphabets at once).

    Args:
        text: the encoded value from JSON.
        field: names the field in messages.
        error: the format error class to raise.
        max_bytes: largest accepted decoded length, checked on the text before decoding.

    Returns:
        The decoded bytes.

    Raises:
        SignatureFormatError: (the ``error`` class) not a string or not base64.
        SizeLimitExceededError: the decoded value would be longer than ``max_bytes``.
    """
    if not isinstance(text, str):
        raise error(f"{field} must be a base64 string, not {_json_type(text)}", field=field)
    if max_bytes is not None and len(text) // 4 * 3 > max_bytes + 2:
        raise SizeLimitExceededError(
            f"{field} is longer than the {max_bytes}-byte cap", what=field, limit=max_bytes
        )
    url_safe = "-" in text or "_" in text
    padded = text.endswith("=")
    if (
        _BASE64_RE.fullmatch(text) is None
        or (url_safe and ("+" in text or "/" in text))
        or (padded and len(text) % 4 != 0)
        or len(text) % 4 == 1
    ):
        raise error(f"{field} is not valid base64", field=field)
    try:
        decoded = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if url_safe else None, validate=True
        )
    except (binascii.Error, ValueError) as exc:
        raise error(f"{field} is not valid base64", field=field) from exc
    if max_bytes is not None and len(decoded) > max_bytes:
        raise SizeLimitExceededError(
            f"{field} is {len(decoded)} bytes, more than the {max_bytes}-byte cap",
            what=field,
            size=len(decoded),
            limit=max_bytes,
        )
    return decoded


def encode_base64(data: bytes) -> str:
    """Standard base64 with padding, as Go's ``encoding/json`` and protobuf write bytes."""
    return base64.b64encode(data).decode("ascii")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def format_float(value: float) -> str:
    """Print a float64 as Go does in JSON (``strconv`` shortest form, ES6 exponent rule).

    Raises:
        ValueError: ``value`` is NaN or infinite.
    """
    if not math.isfinite(value):
        raise ValueError("JSON cannot represent NaN or infinity")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    shortest = repr(value)
    magnitude = abs(value)
    if 1e-6 <= magnitude < 1e21:
        text = format(decimal.Decimal(shortest), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    # repr already uses d[.ddd]e±XX with at least two exponent digits, as Go's 'e' format;
    # Go then drops a leading zero from a negative two-digit exponent.
    mantissa, _, exponent = shortest.partition("e")
    sign, digits = exponent[0], exponent[1:]
    if sign == "-" and len(digits) == 2 and digits[0] == "0":
        digits = digits[1:]
    return f"{mantissa}e{sign}{digits}"


def encode(value: Any, *, html_safe: bool) -> str:
    """Write ``value`` as compact JSON the way Go does.

    Args:
        value: ``None``, ``bool``, ``int``, ``float``, ``str``, a mapping with string keys
            (written in its iteration order) or a list/tuple.
        html_safe: escape ``<``, ``>``, ``&``, U+2028 and U+2029 as Go's ``encoding/json``
            does (protobuf's JSON writer does not).

    Returns:
        The JSON text.

    Raises:
        ValueError: the value holds something JSON cannot represent, a non-string key, or a
            string that is not valid Unicode (a lone surrogate).
    """
    parts: list[str] = []
    try:
        _encode_into(value, parts, html_safe)
    except RecursionError as exc:
        raise ValueError("value nests too deeply to write as JSON") from exc
    text = "".join(parts)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("JSON strings must be valid Unicode") from exc
    return text


def _encode_string(text: str, html_safe: bool) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    return encoded.translate(_GO_HTML_ESCAPES) if html_safe else encoded


def _encode_into(value: Any, parts: list[str], html_safe: bool) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        try:
            parts.append(format_float(float(value)))
        except OverflowError as exc:
            raise ValueError(f"integer too large for JSON: {str(value)[:40]}") from exc
    elif isinstance(value, float):
        parts.append(format_float(value))
    elif isinstance(value, str):
        parts.append(_encode_string(value, html_safe))
    elif isinstance(value, Mapping):
        parts.append("{")
        for index, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise ValueError(f"JSON object keys must be strings, not {type(key).__name__}")
            if index:
                parts.append(",")
            parts.append(_encode_string(key, html_safe))
            parts.append(":")
            _encode_into(item, parts, html_safe)
        parts.append("}")
    elif isinstance(value, (list, tuple)):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _encode_into(item, parts, html_safe)
        parts.append("]")
    else:
        raise ValueError(f"cannot write {type(value).__name__} as JSON")


def sorted_tree(value: Any) -> Any:
    """Return ``value`` with the keys of every nested mapping sorted, as Go writes maps.

    Go sorts map keys by their UTF-8 bytes, which is the order of Python's code-point sort.

    Raises:
        ValueError: a mapping has a key that is not a string.
    """
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("JSON object keys must be strings")
        return {key: sorted_tree(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [sorted_tree(item) for item in value]
    return value


def json_equal(left: Any, right: Any) -> bool:
    """Compare two parsed JSON values the way Go compares decoded ``any`` values.

    Types must agree (``"1"`` is not ``1`` and ``True`` is not ``1``); numbers compare by
    value, since Go decodes every number to float64; objects and arrays compare item by
    item.
    """
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        try:
            return float(left) == float(right)
        except OverflowError:
            return left == right
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(map(json_equal, left, right))
    return left is None and right is None
