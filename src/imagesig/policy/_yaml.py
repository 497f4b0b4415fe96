"""Safe YAML for policies and resources: PyYAML's safe loader behind size and alias limits.

A YAML stream is read with PyYAML's C safe loader when libyaml is there (the pure-Python one
otherwise). Before any document is turned into Python objects its node graph is checked:

* at most :data:`MAX_YAML_BYTES` of input and :data:`MAX_YAML_DOCUMENTS` documents;
* at most :data:`MAX_YAML_NODES` nodes per document counted as if every alias were written
  out, so an alias bomb ("billion laughs") is refused after a walk over its few distinct
  nodes, never expanded;
* no alias cycles, at most :data:`MAX_YAML_DEPTH` levels of nesting (aliases expanded);
* no duplicate mapping keys (which copy would Kubernetes use?), no tags beyond JSON's
  types.

Timestamps stay strings and keys become strings, as Kubernetes' YAML-to-JSON conversion
leaves them.
"""

from __future__ import annotations

from typing import Any, Final

import yaml

from imagesig.errors import PolicyParseError

__all__ = [
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_DOCUMENTS",
    "MAX_YAML_NODES",
    "load_yaml_documents",
]

#: Largest YAML stream read, in bytes.
MAX_YAML_BYTES: Final = 4 * 1024 * 1024
#: Most documents in one stream.
MAX_YAML_DOCUMENTS: Final = 10_000
#: Most nodes in one document, every alias counted at each use.
MAX_YAML_NODES: Final = 1_000_000
#: Deepest nesting of one document, aliases expanded.
MAX_YAML_DEPTH: Final = 200

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(
    _TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp", "merge")
)
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """The safe loader, with timestamps left as text and every key made a string."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


def _mapping_with_text_keys(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        result[_key_text(key)] = loader.construct_object(value_node)
    return result


def _key_text(key: object) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


_Loader.add_constructor(_TAG + "timestamp", _timestamp_as_text)
_Loader.add_constructor(_TAG + "map", _mapping_with_text_keys)


def _problem(source: str, node: yaml.Node | None, message: str) -> PolicyParseError:
    where = ""
    if node is not None and node.start_mark is not None:
        where = f" (line {node.start_mark.line + 1}, column {node.start_mark.column + 1})"
    return PolicyParseError(f"{source}: {message}{where}", source=source)


def _check_graph(root: yaml.Node, source: str) -> None:
    """Refuse cycles, oversized expansions, deep nesting, duplicate keys and foreign tags.

    The walk is iterative and visits each distinct node once; ``size`` and ``depth`` of a
    node are what it would have with every alias below it written out.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        ident = id(node)
        if children_done:
            open_nodes.discard(ident)
            children = _children(node)
            total = 1 + sum(size[id(child)] for child in children)
            deepest = 1 + max((depth[id(child)] for child in children), default=0)
            if total > MAX_YAML_NODES:
                raise _problem(
                    source,
                    node,
                    f"document expands to more than {MAX_YAML_NODES} nodes (an alias bomb?)",
                )
            if deepest > MAX_YAML_DEPTH:
                raise _problem(source, node, f"nesting deeper than {MAX_YAML_DEPTH} levels")
            size[ident] = total
            depth[ident] = deepest
            continue
        if ident in size:
            continue
        if ident in open_nodes:
            raise _problem(source, node, "an alias refers to a node that contains it")
        _check_node(node, source)
        open_nodes.add(ident)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _check_node(node: yaml.Node, source: str) -> None:
    if isinstance(node, yaml.ScalarNode):
        if node.tag not in _SCALAR_TAGS:
            raise _problem(source, node, f"unsupported YAML tag {node.tag!r}")
        return
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _TAG + "seq":
            raise _problem(source, node, f"unsupported YAML tag {node.tag!r}")
        return
    if not isinstance(node, yaml.MappingNode) or node.tag != _TAG + "map":
        raise _problem(source, node, f"unsupported YAML tag {node.tag!r}")
    seen: set[str] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise _problem(source, key_node, "mapping keys must be scalars")
        if key_node.tag == _TAG + "merge":
            continue
        if key_node.value in seen:
            raise _problem(source, key_node, f"duplicate key {key_node.value!r}")
        seen.add(key_node.value)


def load_yaml_documents(data: str | bytes, *, source: str = "<string>") -> list[Any]:
    """Parse a YAML (or JSON) stream safely, within the module's limits.

    Args:
        data: the stream; bytes must be UTF-8 (a byte-order mark is allowed).
        source: a name for messages, such as the file path.

    Returns:
        One Python value per document, empty documents included as ``None``.

    Raises:
        PolicyParseError: the input is too large, is not valid YAML, or breaks a limit.
    """
    if len(data) > MAX_YAML_BYTES:
        raise PolicyParseError(
            f"{source}: {len(data)} bytes, more than the {MAX_YAML_BYTES} allowed",
            source=source,
        )
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PolicyParseError(f"{source}: not UTF-8 text", source=source) from exc
    else:
        text = data
    documents: list[Any] = []
    loader = _Loader(text)
    try:
        while loader.check_node():
            if len(documents) >= MAX_YAML_DOCUMENTS:
                raise PolicyParseError(
                    f"{source}: more than {MAX_YAML_DOCUMENTS} documents", source=source
                )
            node = loader.get_node()
            _check_graph(node, source)
            documents.append(loader.construct_document(node))
    except yaml.YAMLError as exc:
        raise PolicyParseError(f"{source}: invalid YAML: {exc}", source=source) from exc
    except RecursionError as exc:  # the pure-Python composer recurses per nesting level
        raise PolicyParseError(f"{source}: YAML nested too deeply", source=source) from exc
    finally:
        loader.dispose()
    return documents
