"""Where a value sits in a YAML file: from a path of keys (pydantic's error ``loc``) to a line.

``yaml.safe_load`` gives plain data and forgets positions; ``yaml.compose`` gives the node tree with each
node's ``start_mark`` (0-based line and column). ``YamlSource`` keeps both, so an error found on the data
can be shown at its line::

    source = YamlSource.parse(text, "loopml.yaml")
    source.line_of(("models", "churn", "gate", "rules", 1))     # 14: the line of the second rule

A path that leaves the document (a key that is missing, a list index past the end) stops at the deepest
node that exists, so a missing key is shown at the line of the mapping that should hold it. The element
``"[key]"`` (pydantic's mark for an error in a dict key rather than its value) means the key itself.

``duplicate_keys`` finds keys written twice in one mapping, which ``safe_load`` silently resolves to the
last one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

KEY_MARK = "[key]"


@dataclass(frozen=True)
class Position:
    """A place in the file: ``line`` and ``column`` count from 1."""

    line: int
    column: int


def _position(node: Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


@dataclass(frozen=True)
class YamlSource:
    """A parsed YAML document: ``data`` as ``safe_load`` builds it and ``root``, its node tree."""

    name: str
    data: Any
    root: Node | None

    @classmethod
    def parse(cls, text: str, name: str) -> YamlSource:
        """Parse ``text``; ``yaml.YAMLError`` (with its ``problem_mark``) when it is not YAML."""
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text) if root is not None else None
        return cls(name, data, root)

    def position_of(self, loc: Sequence[str | int]) -> Position | None:
        """The place of the value at ``loc``: the key's line for a mapping entry, the item's for a list
        item; the deepest node that exists when ``loc`` goes further than the document."""
        if self.root is None:
            return None
        node: Node = self.root
        shown: Node = self.root
        for part in loc:
            if part == KEY_MARK:
                break  # ``shown`` is the key already
            if isinstance(node, MappingNode):
                entry = _entry(node, part)
                if entry is None:
                    break
                shown, node = entry
            elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = shown = node.value[part]
            else:
                break
        return _position(shown)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        position = self.position_of(loc)
        return None if position is None else position.line


def _entry(node: MappingNode, key: str | int) -> tuple[Node, Node] | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == str(key):
            return key_node, value_node
    return None


def duplicate_keys(root: Node | None) -> Iterator[tuple[tuple[str | int, ...], str, Position, Position]]:
    """Each key written twice in one mapping: (the path of the mapping, the key, first place, second)."""
    if root is None:
        return
    stack: list[tuple[tuple[str | int, ...], Node]] = [((), root)]
    while stack:
        loc, node = stack.pop()
        if isinstance(node, MappingNode):
            seen: dict[str, Node] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    continue
                if key_node.value in seen and key_node.value != "<<":
                    yield loc, key_node.value, _position(seen[key_node.value]), _position(key_node)
                seen.setdefault(key_node.value, key_node)
                stack.append(((*loc, key_node.value), value_node))
        elif isinstance(node, SequenceNode):
            stack.extend(((*loc, i), item) for i, item in enumerate(node.value))
