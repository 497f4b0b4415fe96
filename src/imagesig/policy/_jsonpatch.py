"""The few JSON Patch (RFC 6902) operations the evaluator writes, applied to a copy.

The evaluator patches image fields (``replace``) and annotations (``add``). Kyverno applies
its patches with "create missing parents on add" and "ignore missing paths on remove"; this
does the same for the operations it supports (``add``, ``replace``, ``remove``), copying only
what lies on the patched paths.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["apply_patches", "escape", "patch"]


def escape(token: str) -> str:
    """Escape one JSON Pointer reference token (``~`` → ``~0``, ``/`` → ``~1``)."""
    return token.replace("~", "~0").replace("/", "~1")


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer {pointer!r} does not start with '/'")
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def patch(op: str, path: str, value: Any = None) -> dict[str, Any]:
    """Build one operation as a dict, in the key order Kubernetes tools print."""
    operation: dict[str, Any] = {"op": op, "path": path}
    if op != "remove":
        operation["value"] = value
    return operation


def _copy(container: Any) -> Any:
    if type(container) is dict or isinstance(container, Mapping):
        return dict(container)
    if isinstance(container, list):
        return list(container)
    raise KeyError("not a container")


def _value(value: Any) -> Any:
    return value if type(value) is str else copy.deepcopy(value)


def apply_patches(document: Mapping[str, Any], patches: Iterable[Mapping[str, Any]]) -> Any:
    """Return ``document`` with ``patches`` applied, leaving ``document`` unchanged.

    Only the objects and lists along the patched paths are copied; the rest of the result
    is shared with ``document`` (treat both as read-only).

    Raises:
        ValueError: an operation is not supported or its path does not exist.
    """
    result: Any = dict(document)
    fresh = {id(result)}  # containers created here, safe to change in place
    for operation in patches:
        op = operation.get("op")
        tokens = _tokens(str(operation.get("path", "")))
        if not tokens:
            raise ValueError("patching the whole document is not supported")
        try:
            parent = result
            for token in tokens[:-1]:
                if isinstance(parent, dict):
                    child = parent.get(token)
                    if child is None and op == "add" and token not in parent:
                        child = {}
                    elif child is None:
                        raise KeyError(token)
                    key: Any = token
                else:
                    key = int(token)
                    child = parent[key]
                if id(child) not in fresh:
                    child = _copy(child)
                    fresh.add(id(child))
                    parent[key] = child
                parent = child
            last = tokens[-1]
            if op == "add":
                if isinstance(parent, dict):
                    parent[last] = _value(operation.get("value"))
                elif last == "-":
                    parent.append(_value(operation.get("value")))
                else:
                    parent.insert(int(last), _value(operation.get("value")))
            elif op == "replace":
                if isinstance(parent, dict):
                    if last not in parent:
                        raise KeyError(last)
                    parent[last] = _value(operation.get("value"))
                else:
                    parent[int(last)] = _value(operation.get("value"))
            elif op == "remove":
                if isinstance(parent, dict):
                    parent.pop(last, None)
                elif 0 <= int(last) < len(parent):
                    del parent[int(last)]
            else:
                raise ValueError(f"JSON patch operation {op!r} is not supported")
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"JSON patch path {operation.get('path')!r} does not exist") from exc
    return result
