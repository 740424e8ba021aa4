"""Load a config folder: every department file, grid file and ``camgrid.toml``, all checked.

:func:`load_config` never stops at the first problem: it reads every file,
runs the checks that span files (duplicate ids, grid references, inventory
files), and raises :class:`ConfigInvalid` with all of them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.department import DepartmentFileSettings
from config.envsubst import literal_passwords, substitute
from config.grid import load_grid_files
from config.issues import ConfigInvalid, ConfigIssue, format_path, issues_from_validation
from config.resolved import DepartmentConfig, LoadedConfig, build_department
from config.settings import load_settings
from config.yamlpos import DocPath, LocatedDocument, SyntaxProblem, load_yaml

__all__ = ["DEPARTMENTS_DIR", "GRIDS_DIR", "load_config"]

DEPARTMENTS_DIR = "departments"
GRIDS_DIR = "grids"
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def load_config(root: Path, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and check the config folder ``root``; ``env`` (default ``os.environ``) fills ``${VAR}``.

    Raises :class:`ConfigInvalid` listing every problem in every file.
    """
    env = os.environ if env is None else env
    root = Path(root)
    if not root.is_dir():
        raise ConfigInvalid([ConfigIssue(root.as_posix(), 0, "-", "config folder not found")])
    issues: list[ConfigIssue] = []
    settings, found = load_settings(root, env)
    issues.extend(found)
    cells, grid_ids, found = load_grid_files(root, sorted((root / GRIDS_DIR).glob("*.geojson")))
    issues.extend(found)
    folder = root / DEPARTMENTS_DIR
    issues.extend(
        ConfigIssue(p.relative_to(root).as_posix(), 1, "-", "ignored: name department files *.yaml")
        for p in sorted(folder.glob("*.yml"))
    )
    files = sorted(folder.glob("*.yaml"))
    if not files:
        issues.append(ConfigIssue(DEPARTMENTS_DIR, 0, "-", "no department files (*.yaml) found"))
    state = _CrossFile(root=root, grid_ids=grid_ids)
    departments = []
    for file in files:
        department, found = _load_department(file, env, state)
        issues.extend(found)
        if department is not None:
            departments.append(department)
    if issues or settings is None:
        raise ConfigInvalid(sorted(issues, key=lambda issue: (issue.file, issue.line)))
    return LoadedConfig(root.resolve(), settings, tuple(departments), tuple(cells))


@dataclass
class _CrossFile:
    """What one file's checks need to know about the others."""

    root: Path
    grid_ids: set[str]
    department_files: dict[str, str] = field(default_factory=dict)


def _load_department(
    file: Path, env: Mapping[str, str], state: _CrossFile
) -> tuple[DepartmentConfig | None, list[ConfigIssue]]:
    name = file.relative_to(state.root).as_posix()
    try:
        doc = load_yaml(file.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        return None, [ConfigIssue(name, 1, "-", "the file is not UTF-8 text")]
    except SyntaxProblem as exc:
        return None, [ConfigIssue(name, exc.line, "-", exc.message)]
    if doc.data is None:
        return None, [ConfigIssue(name, 1, "-", "the file is empty")]
    problems = [(path, message) for path, _, message in doc.problems]
    lines = {path: line for path, line, _ in doc.problems}
    problems += literal_passwords(doc.data)
    data, found = substitute(doc.data, env)
    problems += found
    # a value already reported as written (a literal password, an unset variable) is not
    # reported again by the schema, which only sees it as a string
    shadowed = [format_path(path) for path, _ in problems]
    problems += _cross_checks(data, file, state)
    issues = [
        ConfigIssue(name, lines.get(path) or doc.line_of(path), format_path(path), message)
        for path, message in problems
    ]
    located = LocatedDocument(data, doc.lines)
    try:
        settings = DepartmentFileSettings.model_validate(data)
    except ValidationError as exc:
        issues.extend(
            issue
            for issue in issues_from_validation(exc, located, name, DepartmentFileSettings)
            if not any(_within(issue.path, path) for path in shadowed)
        )
        return None, issues
    if issues:
        return None, issues
    camera_lines = [doc.line_of(("cameras", index)) for index in range(len(settings.cameras))]
    return build_department(settings, file.resolve(), camera_lines), []


def _within(path: str, parent: str) -> bool:
    return path == parent or path.startswith((f"{parent}.", f"{parent}["))


def _cross_checks(data: Any, file: Path, state: _CrossFile) -> list[tuple[DocPath, str]]:
    """Checks that look beyond this file; on raw data, so they run even if the file is invalid."""
    if not isinstance(data, dict):
        return []
    problems: list[tuple[DocPath, str]] = []
    department = data.get("department")
    department_id = department.get("id") if isinstance(department, dict) else None
    if isinstance(department_id, str):
        other = state.department_files.get(department_id)
        if other is not None:
            message = f"department id '{department_id}' is already used by {other}"
            problems.append((("department", "id"), message))
        else:
            state.department_files[department_id] = file.relative_to(state.root).as_posix()
    problems += _camera_checks(data.get("cameras"), state)
    problems += _inventory_checks(data.get("inventories"), file, state)
    return problems


def _camera_checks(cameras: Any, state: _CrossFile) -> list[tuple[DocPath, str]]:
    problems: list[tuple[DocPath, str]] = []
    first: dict[str, int] = {}
    for index, camera in enumerate(cameras if isinstance(cameras, list) else []):
        if not isinstance(camera, dict):
            continue
        camera_id = camera.get("id")
        if isinstance(camera_id, str):
            if camera_id in first:
                message = f"camera id '{camera_id}' is already used by cameras[{first[camera_id]}]"
                problems.append((("cameras", index, "id"), message))
            else:
                first[camera_id] = index
        grid = camera.get("grid")
        if isinstance(grid, str) and _ID.fullmatch(grid) and grid not in state.grid_ids:
            problems.append((("cameras", index, "grid"), f"no grid file has a cell '{grid}'"))
    return problems


def _inventory_checks(inventories: Any, file: Path, state: _CrossFile) -> list[tuple[DocPath, str]]:
    problems: list[tuple[DocPath, str]] = []
    for index, inventory in enumerate(inventories if isinstance(inventories, list) else []):
        if not isinstance(inventory, dict) or inventory.get("kind") not in ("csv", "xlsx"):
            continue
        written = inventory.get("path")
        if not isinstance(written, str) or not written:
            continue
        target = (file.parent / written).resolve()
        if not target.is_file():
            try:
                shown = target.relative_to(state.root.resolve()).as_posix()
            except ValueError:
                shown = target.as_posix()
            what = "is a folder, not a file" if target.is_dir() else "does not exist"
            problems.append((("inventories", index, "path"), f"{shown} {what}"))
    return problems
