"""``${ENV}`` and ``${ENV:-default}`` references in the string values of a parsed document.

Substitution runs on values after the YAML is parsed, so a secret may hold
any character (quotes, ``#``, ``:``) without breaking the file. As in a
shell, ``${NAME:-default}`` takes the default when the variable is unset or
empty; ``$${`` writes a literal ``${``. The result of a substitution is never
scanned again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from config.yamlpos import DocPath

__all__ = ["is_reference", "literal_passwords", "substitute"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(r"\$\$\{|\$\{(" + _NAME + r")(?::-([^}]*))?\}|\$\{")
_WHOLE_REFERENCE = re.compile(r"\$\{" + _NAME + r"(?::-[^}]*)?\}")

LITERAL_PASSWORD = "a literal password is not allowed; use ${ENV_VAR}"


def is_reference(text: str) -> bool:
    """True when ``text`` is exactly one ``${NAME}`` or ``${NAME:-default}`` reference."""
    return _WHOLE_REFERENCE.fullmatch(text) is not None


def substitute(
    data: Any, env: Mapping[str, str], path: DocPath = ()
) -> tuple[Any, list[tuple[DocPath, str]]]:
    """Replace references in every string value of ``data`` (keys are left alone).

    Returns the new data and the problems found, each as (path, message). A
    value with a problem is kept as written so that the rest still validates.
    """
    problems: list[tuple[DocPath, str]] = []
    return _walk(data, env, path, problems), problems


def _walk(
    data: Any, env: Mapping[str, str], path: DocPath, problems: list[tuple[DocPath, str]]
) -> Any:
    if isinstance(data, dict):
        return {key: _walk(value, env, (*path, key), problems) for key, value in data.items()}
    if isinstance(data, list):
        return [_walk(value, env, (*path, index), problems) for index, value in enumerate(data)]
    if isinstance(data, str) and "${" in data:
        text, problem = _substitute_text(data, env)
        if problem is not None:
            problems.append((path, problem))
            return data
        return text
    return data


def _substitute_text(text: str, env: Mapping[str, str]) -> tuple[str, str | None]:
    problems: list[str] = []

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name is None:
            problems.append("a '${' must start a ${NAME} or ${NAME:-default} reference")
            return token
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is None:
            problems.append(f"environment variable {name} is not set")
        return ""

    result = _TOKEN.sub(replace, text)
    return result, ("; ".join(problems) if problems else None)


def literal_passwords(data: Any, path: DocPath = ()) -> list[tuple[DocPath, str]]:
    """Every ``password:`` value in ``data`` that is not a single ``${...}`` reference."""
    found: list[tuple[DocPath, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            child = (*path, key)
            if key == "password" and value is not None:
                if not (isinstance(value, str) and is_reference(value)):
                    found.append((child, LITERAL_PASSWORD))
            else:
                found.extend(literal_passwords(value, child))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(literal_passwords(value, (*path, index)))
    return found
