"""The small parsers under the config loader: durations, ``${ENV}`` references, YAML lines."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import format_duration, parse_duration
from config.envsubst import is_reference, substitute
from config.yamlpos import SyntaxProblem, load_json, load_yaml


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("10s", 10),
        ("5m", 300),
        ("1h", 3600),
        ("90d", 7776000),
        ("1h30m", 5400),
        ("1.5s", 1.5),
        (" 2m ", 120),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "5 m", "-5s", "5y", "1h 30m", "5mm"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration; write a number and a unit"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(300, "5m"), (0.5, "500ms"), (90 * 86400, "90d"), (61, "61s"), (0, "0ms")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_substitute_every_string_value_but_not_keys() -> None:
    data = {"${K}": ["${A}", {"b": "x-${B:-dflt}-y"}, 5, None], "c": "$${A} ${A:-unused}"}
    result, problems = substitute(data, {"A": "a:'\"#${B}", "K": "k"})
    assert problems == []
    assert result == {"${K}": ["a:'\"#${B}", {"b": "x-dflt-y"}, 5, None], "c": "${A} a:'\"#${B}"}


def test_substitute_reports_each_unset_variable_and_keeps_the_value() -> None:
    result, problems = substitute({"a": ["${X}", "${Y}${Z}"]}, {"Y": ""})
    assert result == {"a": ["${X}", "${Y}${Z}"]}
    assert problems == [
        (("a", 0), "environment variable X is not set"),
        (("a", 1), "environment variable Z is not set"),
    ]


def test_empty_variable_takes_the_default() -> None:
    assert substitute("${E:-d}", {"E": ""}) == ("d", [])
    assert substitute("${E}", {"E": ""}) == ("", [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A}", True),
        ("${A_1:-x y}", True),
        ("${A}${B}", False),
        ("x${A}", False),
        ("${1A}", False),
        ("$A", False),
        ("${A:-}", True),
    ],
)
def test_is_reference(text: str, expected: bool) -> None:
    assert is_reference(text) is expected


def test_yaml_lines_for_values_keys_and_items() -> None:
    doc = load_yaml("a:\n  b: 1\n  c:\n    - x\n    -\n      d: 'q'\n  e:\n")
    assert doc.data == {"a": {"b": 1, "c": ["x", {"d": "q"}], "e": None}}
    assert doc.lines[("a", "b")] == 2
    assert doc.lines[("a", "c")] == 3
    assert doc.lines[("a", "c", 0)] == 4
    assert doc.lines[("a", "c", 1, "d")] == 6
    assert doc.lines[("a", "e")] == 7
    assert doc.line_of(("a", "c", 1, "missing", "deeper")) == 6


def test_yaml_keys_stay_as_written() -> None:
    assert load_yaml("on: 1\n123: 2\nnull: 3\n").data == {"on": 1, "123": 2, "null": 3}


def test_yaml_unsupported_tag_and_recursive_alias() -> None:
    doc = load_yaml("a: !secret x\nb: &r [*r]\n")
    assert doc.problems == [
        (("a",), 1, "unsupported YAML tag '!secret'"),
        (("b", 0), 2, "an alias cannot refer to itself"),
    ]


def test_yaml_control_character() -> None:
    with pytest.raises(SyntaxProblem) as info:
        load_yaml("a: 1\nb: \x07\n")
    assert (info.value.line, info.value.message) == (
        2,
        "invalid YAML: the file holds a control character (#x0007)",
    )


def test_json_lines_and_duplicates() -> None:
    doc = load_json('{"a": [1,\n\t2],\n "a": {"b": "\\/x"}}')
    assert doc.data == {"a": {"b": "/x"}}
    assert doc.lines[("a", "b")] == 3
    assert doc.problems == [(("a",), 3, "duplicate key 'a'")]
