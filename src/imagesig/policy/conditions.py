"""Kyverno conditions: ``{{ }}`` variables and the operators of preconditions and attestations.

**Variables.** A string holding ``{{ expression }}`` has the expression evaluated with
JMESPath (:mod:`imagesig.policy._jmespath`) against the context. A string that is one whole
variable keeps the result's JSON type; otherwise the result is written into the string (as JSON
when it is not a string). Nested variables are resolved inside out, ``\\{{`` escapes, and
``{{- x}}`` substitutes once without looking for variables in the result. A variable that
resolves to nothing is an error, as in Kyverno, whose JMESPath reports missing keys (here a
``null`` result counts as missing). Substituted strings are capped at
:data:`MAX_SUBSTITUTED_BYTES`.

**Operators** (names matched case-insensitively; numbers are compared as Go's ``float64``, the
way Kyverno's JSON context holds them):

* ``Equals``/``NotEquals`` (and ``Equal``/``NotEqual``): strings are compared as Go durations
  (``1h30m``), then as Kubernetes quantities (``500Mi``), then with the wildcard, the value
  being the pattern; numbers with number-like strings; booleans only with booleans; lists and
  objects by deep equality.
* ``AnyIn``/``AllIn``/``AnyNotIn``/``AllNotIn`` and the older ``In``/``NotIn``: the key is a
  value or a list, the value a list, a single value, a JSON array in a string, or a range such
  as ``"1-5"``; elements match by wildcard in either direction (``In``/``NotIn`` on lists compare
  exactly).
* ``GreaterThan``, ``GreaterThanOrEquals``, ``LessThan``, ``LessThanOrEquals`` (and the
  ``Duration*`` aliases): durations (a plain number counts as seconds), quantities, numbers,
  then semantic versions.

``{any: [...], all: [...]}`` blocks: ``any`` holds when one condition holds (an absent ``any``
holds, an empty one does not), ``all`` when each does; both must hold; evaluation stops early.
The message of the deciding condition is returned. A list of blocks is ANDed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from imagesig.errors import ConditionError
from imagesig.policy import wildcard
from imagesig.policy.model import AnyAllConditions, Condition

__all__ = [
    "MAX_SUBSTITUTED_BYTES",
    "evaluate_condition",
    "evaluate_condition_blocks",
    "evaluate_conditions",
    "parse_duration",
    "parse_quantity",
    "substitute",
]

#: Longest string a substitution may produce.
MAX_SUBSTITUTED_BYTES: Final = 2 * 1024 * 1024
_MAX_ROUNDS = 100
_VARIABLE = re.compile(r"(^|[^\\])(\{\{(?:\{[^{}]*\}|[^{}])*\}\})")
_VARIABLE_AT_START = re.compile(r"\{\{(?:\{[^{}]*\}|[^{}])*\}\}")
_DURATION_UNITS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # Go accepts both micro signs
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]+)")
_QUANTITY = re.compile(
    r"([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?"
)
_QUANTITY_SUFFIX: Final = {
    "": Decimal(1),
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_SEMVER = re.compile(
    r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?",
    re.ASCII,
)
_RANGE = re.compile(r"([-|+]?\d+(?:\.\d+)?[A-Za-z]*)-([-|+]?\d+(?:\.\d+)?[A-Za-z]*)", re.ASCII)
_FLOAT = re.compile(
    r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|infinity|nan)",
    re.ASCII | re.IGNORECASE,
)


# ------------------------------------------------------------------------------------------
# variable substitution


def _check_size(text: str) -> str:
    if len(text) > MAX_SUBSTITUTED_BYTES:
        raise _too_large()
    return text


def _too_large() -> ConditionError:
    return ConditionError(
        f"variable substitution produced more than {MAX_SUBSTITUTED_BYTES} characters"
    )


def _lookup(expression: str, context: Mapping[str, Any]) -> Any:
    from imagesig.policy import _jmespath  # noqa: PLC0415 - JMESPath only when needed

    if not expression:
        raise ConditionError("empty variable {{}}")
    result = _jmespath.search(expression, context)
    if result is None:
        raise ConditionError(f"variable {expression!r} not found (it resolves to nothing)")
    return result


def _substitute_string(text: str, context: Mapping[str, Any]) -> Any:
    value = text
    rounds = 0
    while _VARIABLE.search(value) is not None:
        rounds += 1
        if rounds > _MAX_ROUNDS:
            raise ConditionError(f"variables in {text[:100]!r} nest more than {_MAX_ROUNDS} deep")
        pieces: list[str] = []
        size = 0
        last = 0
        shallow = False
        # One pass, left to right: Kyverno's regex consumes the character before each
        # variable, so two adjacent variables take two rounds, as they do in Kyverno.
        for found in _VARIABLE.finditer(value):
            variable = found.group(2)
            expression = variable.replace("{{", "").replace("}}", "").strip()
            shallow = expression.startswith("-")
            if shallow:
                expression = expression[1:].strip()
            result = _lookup(expression, context)
            if value == variable:
                return result
            if shallow and isinstance(result, str):
                result = result.replace("{{", "\\{{")
            replacement = (
                result if isinstance(result, str) else json.dumps(result, separators=(",", ":"))
            )
            before = value[last : found.start(2)]
            size += len(before) + len(replacement)
            if size > MAX_SUBSTITUTED_BYTES:
                raise _too_large()
            pieces.extend((before, replacement))
            last = found.end(2)
        pieces.append(value[last:])
        value = _check_size("".join(pieces))
        if shallow:
            break
    return value.replace("\\{{", "{{")


def substitute(value: Any, context: Mapping[str, Any]) -> Any:
    """Resolve every ``{{ }}`` variable in a JSON value (strings, lists, objects; keys too).

    Args:
        value: the value, e.g. a condition's ``key``.
        context: the JSON context (``request``, ``images``, ``image``, ...).

    Returns:
        The value with variables replaced; a string that is one whole variable becomes the
        variable's value, of any JSON type.

    Raises:
        ConditionError: a variable does not resolve, an expression is invalid, or a result is
            too large.
    """
    if isinstance(value, str):
        return _substitute_string(value, context)
    if isinstance(value, list | tuple):
        return [substitute(item, context) for item in value]
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            new_key = substitute(key, context) if isinstance(key, str) else key
            result[new_key if isinstance(new_key, str) else json.dumps(new_key)] = substitute(
                item, context
            )
        return result
    return value


# ------------------------------------------------------------------------------------------
# value parsing


def parse_duration(text: str) -> float | None:
    """Parse a Go duration (``1h30m``, ``-1.5s``, ``300ms``) into seconds.

    Returns:
        The seconds, or ``None`` when ``text`` is not a duration. ``"0"`` is zero.
    """
    if text == "0":
        return 0.0
    body = text
    sign = 1.0
    if body[:1] in "+-" and body:
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if not body or body == "0":
        return 0.0 if body == "0" else None
    total = 0.0
    position = 0
    while position < len(body):
        part = _DURATION_PART.match(body, position)
        if part is None:
            return None
        number, unit = part.group(1), part.group(2)
        if number in ("", ".") or unit not in _DURATION_UNITS:
            return None
        total += float(number) * _DURATION_UNITS[unit]
        position = part.end()
    return sign * total


def parse_quantity(text: str) -> Decimal | None:
    """Parse a Kubernetes resource quantity (``500Mi``, ``1.5``, ``2e3``, ``100m``).

    Returns:
        The exact value, or ``None`` when ``text`` is not a quantity.
    """
    found = _QUANTITY.fullmatch(text)
    if found is None:
        return None
    sign, number, suffix = found.group(1), found.group(2), found.group(3) or ""
    try:
        value = Decimal(number)
        if suffix[:1] in ("e", "E"):
            value = value.scaleb(int(suffix[1:]))
        else:
            value *= _QUANTITY_SUFFIX[suffix]
    except (InvalidOperation, ValueError):
        return None
    return -value if sign == "-" else value


def _go_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat(text, 64)``; ``None`` when it fails."""
    if _FLOAT.fullmatch(text.replace("_", "")) is None or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _go_int(text: str) -> int | None:
    if not re.fullmatch(r"[+-]?\d+", text, re.ASCII):
        return None
    return int(text)


def _semver(text: str) -> tuple[int, int, int, tuple[Any, ...]] | None:
    found = _SEMVER.fullmatch(text)
    if found is None:
        return None
    pre = found.group(4)
    identifiers: tuple[Any, ...] = ()
    if pre:
        identifiers = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return int(found.group(1)), int(found.group(2)), int(found.group(3)), identifiers


def _semver_key(version: tuple[int, int, int, tuple[Any, ...]]) -> tuple[Any, ...]:
    major, minor, patch, pre = version
    # A release sorts after its pre-releases.
    return (major, minor, patch, 0 if pre else 1, pre)


def go_sprint(value: Any) -> str:
    """Format a JSON value the way Go's ``fmt.Sprint`` does for Kyverno's ``*In`` operators."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, int | float):
        return _go_float_text(float(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_sprint(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = " ".join(f"{go_sprint(k)}:{go_sprint(v)}" for k, v in sorted(value.items()))
        return f"map[{items}]"
    return str(value)


def _go_float_text(number: float) -> str:
    """Go's ``%v`` for a ``float64``: shortest digits, exponent form below 1e-4 or from 1e21."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    digits = Decimal(repr(number)).normalize()
    _, numerals, exponent = digits.as_tuple()
    assert isinstance(exponent, int)
    point = len(numerals) + exponent
    decimal_exponent = point - 1
    if decimal_exponent < -4 or decimal_exponent >= 21:
        mantissa = "".join(map(str, numerals))
        text = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
        sign = "-" if number < 0 else ""
        return f"{sign}{text}e{'+' if decimal_exponent >= 0 else '-'}{abs(decimal_exponent):02d}"
    return format(digits, "f")


def _normalise(value: Any) -> Any:
    """JSON numbers as Go's float64, the way Kyverno's context holds them."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, tuple):
        return list(value)
    return value


# ------------------------------------------------------------------------------------------
# operators


def _durations(key: Any, value: Any) -> tuple[float, float] | None:
    """Kyverno's ``parseDuration``: at least one side a duration string, the other a number."""
    key_seconds = parse_duration(key) if isinstance(key, str) and key != "0" else None
    value_seconds = parse_duration(value) if isinstance(value, str) and value != "0" else None
    if key_seconds is None and value_seconds is None:
        return None
    if key_seconds is None:
        if isinstance(key, bool) or not isinstance(key, int | float):
            return None
        key_seconds = float(key)
    if value_seconds is None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        value_seconds = float(value)
    return key_seconds, value_seconds


def _deep_equal(first: Any, second: Any) -> bool:
    return bool(_normalise_deep(first) == _normalise_deep(second))


def _normalise_deep(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", float(value))
    if isinstance(value, list | tuple):
        return ("list", tuple(_normalise_deep(item) for item in value))
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((str(k), _normalise_deep(v)) for k, v in value.items())))
    return ("other", repr(value))


def _equals(key: Any, value: Any) -> bool:
    key, value = _normalise(key), _normalise(value)
    if isinstance(key, bool):
        return isinstance(value, bool) and key == value
    if isinstance(key, float):
        if isinstance(value, bool):
            return False
        if isinstance(value, float):
            return key == value
        if isinstance(value, str):
            parsed = _go_float(value)
            return parsed is not None and parsed == key
        return False
    if isinstance(key, str):
        durations = _durations(key, value)
        if durations is not None:
            return durations[0] == durations[1]
        quantity = parse_quantity(key)
        if quantity is not None and isinstance(value, str):
            other = parse_quantity(value)
            return other is not None and other == quantity
        return isinstance(value, str) and wildcard.match(value, key)
    if isinstance(key, list | Mapping):
        return isinstance(value, type(key)) and _deep_equal(key, value)
    return False


def _not_equals(key: Any, value: Any) -> bool:
    key, value = _normalise(key), _normalise(value)
    if isinstance(key, bool):
        return not isinstance(value, bool) or key != value
    if isinstance(key, float):
        if isinstance(value, float) and not isinstance(value, bool):
            return key != value
        if isinstance(value, str):
            parsed = _go_float(value)
            return parsed is None or parsed != key
        return True
    if isinstance(key, str):
        durations = _durations(key, value)
        if durations is not None:
            return durations[0] != durations[1]
        quantity = parse_quantity(key)
        if quantity is not None and isinstance(value, str):
            if value == "":
                return not wildcard.match(value, key)
            other = parse_quantity(value)
            return other is None or other != quantity
        return not isinstance(value, str) or not wildcard.match(value, key)
    if isinstance(key, list | Mapping):
        return not isinstance(value, type(key)) or not _deep_equal(key, value)
    return False


def _either_way(first: str, second: str) -> bool:
    return wildcard.match(first, second) or wildcard.match(second, first)


def _json_string_list(text: str) -> list[str] | None:
    """A JSON array of strings in a string; ``None`` when it is not one."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        return None
    return parsed


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _range_operator(text: str) -> bool:
    return len(text) >= 2 and text[0] not in "<>!" and _RANGE.fullmatch(text) is not None


def _in_range(key: str, text: str) -> bool:
    found = _RANGE.fullmatch(text)
    if found is None:
        return False
    return _compare(key, found.group(1), "greaterthanorequals") and _compare(
        key, found.group(2), "lessthanorequals"
    )


def _scalar_key(key: Any) -> str | None:
    if isinstance(key, str):
        return key
    if isinstance(key, bool | int | float):
        return go_sprint(key)
    return None


def _key_in(key: str, value: Any, *, exact_json: bool) -> bool | None:
    """One key against the value; ``None`` for an invalid value type."""
    if isinstance(value, list):
        return any(_either_way(go_sprint(item), key) for item in value)
    if isinstance(value, str):
        if wildcard.match(value, key):
            return True
        if exact_json:  # In / NotIn
            items = _json_string_list(value)
            if items is None:
                return None
            return key in items
        if _range_operator(value):
            return _in_range(key, value)
        if _is_json(value):
            items = _json_string_list(value)
            if items is None:
                return None
        else:
            items = [value]
        return key in items
    return None


def _set_values(value: Any, *, exact: bool) -> list[str] | None:
    if isinstance(value, list):
        if exact and not all(isinstance(item, str) for item in value):
            return None
        return [go_sprint(item) for item in value]
    if isinstance(value, bool | int | float) and not exact:
        return [go_sprint(value)]
    return None


def _membership(key: Any, value: Any, operator: str) -> bool:
    """``In``, ``NotIn``, ``AnyIn``, ``AllIn``, ``AnyNotIn``, ``AllNotIn``."""
    value = _normalise(value)
    key = _normalise(key)
    exact = operator in ("in", "notin")
    negate = operator in ("notin", "anynotin", "allnotin")
    scalar = _scalar_key(key)
    if scalar is not None:
        found = _key_in(scalar, value, exact_json=exact)
        if found is None:
            return False
        return not found if negate else found
    if not isinstance(key, list):
        return False
    if exact and not all(isinstance(item, str) for item in key):
        return False
    keys = [item if isinstance(item, str) else go_sprint(item) for item in key]
    if isinstance(value, str):
        if len(keys) == 1 and keys[0] == value:
            return not negate
        if not exact and _range_operator(value):
            return _set_in_range(keys, value, operator)
        if exact or _is_json(value):
            values = _json_string_list(value)
            if values is None:
                return False
        else:
            values = [value]
    else:
        listed = _set_values(value, exact=exact)
        if listed is None:
            return False
        values = listed
    return _set_relation(keys, values, operator)


def _set_in_range(keys: Sequence[str], text: str, operator: str) -> bool:
    inside = [_in_range(key, text) for key in keys]
    if operator == "anyin":
        return any(inside)
    if operator == "allin":
        return all(inside)
    if operator == "anynotin":
        return not all(inside)
    return not any(inside)  # allnotin


def _set_relation(keys: Sequence[str], values: Sequence[str], operator: str) -> bool:
    if operator == "in":
        return set(keys) <= set(values)
    if operator == "notin":
        return not set(keys) <= set(values)
    matched = [any(_either_way(key, item) for item in values) for key in keys]
    if operator == "anyin":
        return any(matched)
    if operator == "allin":
        return all(matched)
    if operator == "anynotin":
        return not all(matched)
    return not any(matched)  # allnotin


def _ordered(first: float | Decimal, second: float | Decimal, operator: str) -> bool:
    if operator == "greaterthanorequals":
        return first >= second
    if operator == "greaterthan":
        return first > second
    if operator == "lessthanorequals":
        return first <= second
    return first < second


def _compare_number(key: float, value: Any, operator: str) -> bool:
    if isinstance(value, float) and not isinstance(value, bool):
        return _ordered(key, value, operator)
    if isinstance(value, str):
        durations = _durations(key, value)
        if durations is not None:
            return _ordered(durations[0], durations[1], operator)
        parsed = _go_float(value)
        if parsed is not None:
            return _ordered(key, parsed, operator)
    return False


def _compare(key: Any, value: Any, operator: str) -> bool:
    """``GreaterThan`` and friends; ``operator`` is lower case without ``duration``."""
    key, value = _normalise(key), _normalise(value)
    if isinstance(key, bool):
        return False
    if isinstance(key, float):
        return _compare_number(key, value, operator)
    if not isinstance(key, str):
        return False
    durations = _durations(key, value)
    if durations is not None:
        return _ordered(durations[0], durations[1], operator)
    quantity = parse_quantity(key)
    if quantity is not None and isinstance(value, str):
        other = parse_quantity(value)
        if other is not None:
            return _ordered(quantity, other, operator)
    number = _go_float(key)
    if number is not None:
        return _compare_number(number, value, operator)
    version = _semver(key)
    if version is not None and isinstance(value, str):
        other_version = _semver(value)
        if other_version is None:
            return False
        return _ordered_tuple(_semver_key(version), _semver_key(other_version), operator)
    return False


def _ordered_tuple(first: tuple[Any, ...], second: tuple[Any, ...], operator: str) -> bool:
    if operator == "greaterthanorequals":
        return first >= second
    if operator == "greaterthan":
        return first > second
    if operator == "lessthanorequals":
        return first <= second
    return first < second


_MEMBERSHIP = ("in", "notin", "anyin", "allin", "anynotin", "allnotin")
_ORDERING = ("greaterthanorequals", "greaterthan", "lessthanorequals", "lessthan")


def _handler(operator: str) -> Callable[[Any, Any], bool]:
    name = operator.lower()
    if name in ("equal", "equals"):
        return _equals
    if name in ("notequal", "notequals"):
        return _not_equals
    if name in _MEMBERSHIP:
        return lambda key, value: _membership(key, value, name)
    name = name.removeprefix("duration")
    if name in _ORDERING:
        return lambda key, value: _compare(key, value, name)
    raise ConditionError(f"unknown condition operator {operator!r}")


# ------------------------------------------------------------------------------------------
# evaluation


def evaluate_condition(condition: Condition, context: Mapping[str, Any]) -> tuple[bool, str]:
    """Evaluate one condition.

    Args:
        condition: the condition.
        context: the JSON context its variables read.

    Returns:
        ``(holds, message)``.

    Raises:
        ConditionError: a variable does not resolve or the operator is unknown.
    """
    handler = _handler(condition.operator)
    try:
        key = substitute(condition.key, context)
    except ConditionError as exc:
        raise ConditionError(f"failed to substitute variables in condition key: {exc}") from exc
    try:
        value = substitute(condition.value, context)
    except ConditionError as exc:
        raise ConditionError(f"failed to substitute variables in condition value: {exc}") from exc
    return handler(key, value), condition.message


def evaluate_conditions(block: AnyAllConditions, context: Mapping[str, Any]) -> tuple[bool, str]:
    """Evaluate an ``{any, all}`` block.

    Args:
        block: the block.
        context: the JSON context.

    Returns:
        ``(holds, message)``: the messages of the conditions that decided, joined with
        ``"; "``.

    Raises:
        ConditionError: a condition could not be evaluated.
    """
    true_messages: list[str] = []
    false_messages: list[str] = []
    any_holds = True
    if block.any is not None:
        any_holds = False
        for condition in block.any:
            holds, message = evaluate_condition(condition, context)
            if holds:
                any_holds = True
                true_messages.append(message)
                break
            false_messages.append(message)
    all_holds = True
    for condition in block.all or ():
        holds, message = evaluate_condition(condition, context)
        if not holds:
            all_holds = False
            false_messages.append(message)
            break
        true_messages.append(message)
    if any_holds and all_holds:
        return True, "; ".join(message for message in true_messages if message)
    return False, "; ".join(message for message in false_messages if message)


def evaluate_condition_blocks(
    blocks: Sequence[AnyAllConditions], context: Mapping[str, Any]
) -> tuple[bool, str]:
    """Evaluate a list of blocks (attestation ``conditions``): all must hold.

    Returns:
        ``(holds, message)``: the failing block's message, or the passing ones' joined by
        ``";"``.

    Raises:
        ConditionError: a condition could not be evaluated.
    """
    messages = []
    for block in blocks:
        holds, message = evaluate_conditions(block, context)
        if not holds:
            return False, message
        if message:
            messages.append(message)
    return True, ";".join(messages)
