"""JMESPath as Kyverno's variables use it: the standard language plus some of Kyverno's functions.

Built on the ``jmespath`` package (imported here, so only when a policy needs it). Added
functions, with Kyverno's names and argument order: ``to_upper``, ``to_lower``, ``trim``,
``trim_prefix``, ``trim_suffix``, ``split``, ``replace``, ``replace_all``, ``equal_fold``,
``compare``, ``truncate``, ``base64_encode``, ``base64_decode``, ``parse_json``, ``sha256``,
``pattern_match`` (Kyverno's wildcard) and ``image_normalize``. Regular-expression,
time, arithmetic and lookup functions are not provided yet; an expression using them fails
with a :class:`~imagesig.errors.ConditionError` naming the function.

Every string a function returns is capped at :data:`MAX_VALUE_BYTES`, so nested
``replace_all`` calls cannot grow a value exponentially.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from typing import Any, Final

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath import functions

from imagesig.errors import ConditionError, InvalidReferenceError
from imagesig.policy import wildcard
from imagesig.reference import kyverno_image_info

__all__ = ["MAX_VALUE_BYTES", "search"]

#: Largest string a function may build (Kyverno caps its context at 2 MB likewise).
MAX_VALUE_BYTES: Final = 2 * 1024 * 1024
_CACHE_SIZE = 1024


def _capped(text: str) -> str:
    if len(text) > MAX_VALUE_BYTES:
        raise ConditionError(
            f"a JMESPath function produced {len(text)} characters, more than {MAX_VALUE_BYTES}"
        )
    return text


class _KyvernoFunctions(functions.Functions):
    """Kyverno's custom JMESPath functions (a subset)."""

    @functions.signature({"types": ["string"]})
    def _func_to_upper(self, text: str) -> str:
        return text.upper()

    @functions.signature({"types": ["string"]})
    def _func_to_lower(self, text: str) -> str:
        return text.lower()

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_trim(self, text: str, cutset: str) -> str:
        return text.strip(cutset)

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_trim_prefix(self, text: str, prefix: str) -> str:
        return text.removeprefix(prefix)

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_trim_suffix(self, text: str, suffix: str) -> str:
        return text.removesuffix(suffix)

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_split(self, text: str, separator: str) -> list[str]:
        if not separator:  # Go splits into UTF-8 sequences
            return list(text)
        return text.split(separator)

    @functions.signature(
        {"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]}, {"types": ["number"]}
    )
    def _func_replace(self, text: str, old: str, new: str, count: float) -> str:
        limit = int(count)
        if limit < 0:
            return _capped(text.replace(old, new))
        return _capped(text.replace(old, new, limit))

    @functions.signature({"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_replace_all(self, text: str, old: str, new: str) -> str:
        if (
            old
            and len(new) > len(old)
            and text.count(old) * (len(new) - len(old)) > MAX_VALUE_BYTES
        ):
            raise ConditionError(
                f"replace_all would produce more than {MAX_VALUE_BYTES} characters"
            )
        return _capped(text.replace(old, new))

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_equal_fold(self, first: str, second: str) -> bool:
        return first.casefold() == second.casefold()

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_compare(self, first: str, second: str) -> int:
        return (first > second) - (first < second)

    @functions.signature({"types": ["string"]}, {"types": ["number"]})
    def _func_truncate(self, text: str, length: float) -> str:
        return text[: max(0, int(length))]

    @functions.signature({"types": ["string"]})
    def _func_base64_encode(self, text: str) -> str:
        return _capped(base64.b64encode(text.encode()).decode("ascii"))

    @functions.signature({"types": ["string"]})
    def _func_base64_decode(self, text: str) -> str:
        try:
            return base64.b64decode(text, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ConditionError(f"base64_decode: {exc}") from exc

    @functions.signature({"types": ["string"]})
    def _func_parse_json(self, text: str) -> Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConditionError(f"parse_json: {exc}") from exc

    @functions.signature({"types": ["string"]})
    def _func_sha256(self, text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_pattern_match(self, pattern: str, text: str) -> bool:
        return wildcard.match(pattern, text)

    @functions.signature({"types": ["string"]})
    def _func_image_normalize(self, image: str) -> str:
        try:
            return str(kyverno_image_info(image))
        except InvalidReferenceError as exc:
            raise ConditionError(f"image_normalize: {exc.message}") from exc


_OPTIONS = jmespath.Options(custom_functions=_KyvernoFunctions())


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile(expression: str) -> Any:
    return jmespath.compile(expression)


def search(expression: str, data: Any) -> Any:
    """Evaluate ``expression`` on ``data``.

    Args:
        expression: a JMESPath expression, with Kyverno's extra functions.
        data: JSON-like data.

    Returns:
        The result; ``None`` when the path does not exist.

    Raises:
        ConditionError: the expression does not parse or fails to evaluate.
    """
    try:
        return _compile(expression).search(data, options=_OPTIONS)
    except jmespath_errors.JMESPathError as exc:
        raise ConditionError(f"JMESPath {expression!r}: {exc}") from exc
