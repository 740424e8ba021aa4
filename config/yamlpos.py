"""YAML and JSON documents with the line of every value, for error messages.

``yaml.safe_load`` forgets where things were. Here the document is composed
into nodes first and built by hand, so every value keeps its line, duplicate
keys are reported instead of silently overwritten, and keys keep the text
the author wrote (``on:`` stays ``"on"`` instead of becoming ``True``).
JSON is valid YAML for this purpose, so grid files get lines the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["DocPath", "LocatedDocument", "SyntaxProblem", "load_json", "load_yaml"]

DocPath = tuple[str | int, ...]
"""Where a value sits in a document: mapping keys and list indexes from the root."""


class SyntaxProblem(Exception):
    """The text is not valid YAML or JSON; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class LocatedDocument:
    """A parsed document, the 1-based line of each value, and problems found while building it."""

    data: Any
    lines: Mapping[DocPath, int]
    problems: list[tuple[DocPath, int, str]] = field(default_factory=list)

    def line_of(self, path: DocPath) -> int:
        """The line of ``path``, or of its nearest ancestor that exists; 1 for the root."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return self.lines.get((), 1)


def load_yaml(text: str) -> LocatedDocument:
    """Parse one YAML document; raise :class:`SyntaxProblem` if it is not YAML.

    libyaml (ten times faster on a 2,000-camera file) parses when it is
    installed; a text it refuses is parsed again in pure Python, whose
    messages are the ones reported.
    """
    fast: type[Any] | None = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        loader = fast(text)
        try:
            return _located(loader, loader.get_single_node())
        except yaml.YAMLError:
            pass
        finally:
            loader.dispose()
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise SyntaxProblem(*_describe_yaml_error(exc)) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        message = f"invalid YAML: the file holds a control character (#x{exc.character:04x})"
        raise SyntaxProblem(line, message) from None
    try:
        return _located(loader, node)
    finally:
        loader.dispose()


def _located(loader: Any, node: Node | None) -> LocatedDocument:
    if node is None:
        return LocatedDocument(None, {(): 1})
    builder = _Builder(loader)
    data = builder.build(node, ())
    return LocatedDocument(data, builder.lines, builder.problems)


def load_json(text: str) -> LocatedDocument:
    """Parse a JSON document with :mod:`json`; lines come from composing it as YAML.

    If the YAML composer cannot read a valid JSON text (some escapes), the
    document still loads and every value is reported at line 1.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SyntaxProblem(exc.lineno, f"invalid JSON: {exc.msg}") from None
    # JSON allows tabs between tokens where YAML does not; a tab cannot sit
    # unescaped inside a JSON string, so replacing them keeps every line.
    loader_cls: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text.replace("\t", " "))
    try:
        node = loader.get_single_node()
        builder = _Builder(loader)
        if node is not None:
            builder.build(node, ())
        return LocatedDocument(data, builder.lines, builder.problems)
    except yaml.YAMLError:
        return LocatedDocument(data, {(): 1})
    finally:
        loader.dispose()


def _describe_yaml_error(exc: yaml.MarkedYAMLError) -> tuple[int, str]:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    problem = exc.problem or "not valid YAML"
    if "'\\t'" in problem:
        return line, "invalid YAML: a tab cannot be used for indentation; use spaces"
    if problem == "but found another document":
        return line, "invalid YAML: a file holds one document; remove the second '---'"
    message = f"invalid YAML: {problem}"
    if exc.context:
        message += f" ({exc.context})"
    return line, message


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Builder:
    """Builds plain Python values from nodes, recording the line of each one."""

    def __init__(self, constructor: Any) -> None:
        self._constructor = constructor
        self._active: set[int] = set()
        self.lines: dict[DocPath, int] = {}
        self.problems: list[tuple[DocPath, int, str]] = []

    def build(self, node: Node, path: DocPath, line: int | None = None) -> Any:
        self.lines[path] = line if line is not None else node.start_mark.line + 1
        if id(node) in self._active:
            self.problems.append((path, self.lines[path], "an alias cannot refer to itself"))
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
            return self._scalar(node, path)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: MappingNode, path: DocPath) -> dict[str, Any]:
        own_count = sum(1 for key, _ in node.value if key.tag != _MERGE_TAG)
        try:
            self._constructor.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            line, message = _describe_yaml_error(exc)
            self.problems.append((path, line, message))
        # flatten_mapping puts merged (<<) pairs first; the file's own keys may override them
        first_own = len(node.value) - own_count
        result: dict[str, Any] = {}
        own_keys: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                self.problems.append((path, key_line, "a key must be a plain name"))
                continue
            key = str(key_node.value)
            child = (*path, key)
            if index >= first_own:
                if key in own_keys:
                    self.problems.append((child, key_line, f"duplicate key '{key}'"))
                own_keys.add(key)
            value_line = key_line
            if isinstance(value_node, ScalarNode) and value_node.value != "":
                value_line = value_node.start_mark.line + 1
            result[key] = self.build(value_node, child, value_line)
        return result

    def _scalar(self, node: Node, path: DocPath) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError:
            self.problems.append((path, self.lines[path], f"unsupported YAML tag '{node.tag}'"))
            return node.value
        except ValueError:
            # e.g. 2024-13-45 looks like a date but is none; keep the text
            return node.value
