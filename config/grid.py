"""Grid files (``grids/*.geojson``): polygons of the 网格 cells, in WGS-84.

A grid file is a GeoJSON FeatureCollection of Polygon or MultiPolygon
features whose properties hold ``grid_id``, ``name``, ``community`` and
``street``. Other GeoJSON members and extra properties are allowed, since
GIS tools add them; the shapes themselves are checked strictly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from config.fields import GridId
from config.issues import ConfigIssue, format_path, issues_from_validation
from config.yamlpos import LocatedDocument, SyntaxProblem, load_json

__all__ = [
    "FeatureCollectionSettings",
    "GridCellConfig",
    "GridFeatureSettings",
    "GridPropertiesSettings",
    "load_grid_files",
]


@dataclass(frozen=True)
class GridCellConfig:
    """One grid cell: ``geometry`` is GeoJSON as written; ``file`` is relative to the root."""

    grid_id: str
    name: str
    community: str
    street: str
    geometry: dict[str, Any]
    file: str


class _GeoModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


def _position(value: Any) -> Any:
    if (
        not isinstance(value, list | tuple)
        or len(value) not in (2, 3)
        or not all(isinstance(n, int | float) and not isinstance(n, bool) for n in value)
    ):
        raise PydanticCustomError("position", "should be [longitude, latitude]")
    lon, lat = float(value[0]), float(value[1])
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise PydanticCustomError("position", "longitude should be between -180 and 180")
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise PydanticCustomError("position", "latitude should be between -90 and 90")
    return tuple(float(n) for n in value)


def _ring(value: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
    if len(value) < 4:
        raise PydanticCustomError("ring", "a ring needs at least 4 positions")
    if value[0][:2] != value[-1][:2]:
        raise PydanticCustomError("ring", "a ring should end at the position where it starts")
    return value


Position = Annotated[tuple[float, ...], BeforeValidator(_position)]
Ring = Annotated[list[Position], AfterValidator(_ring)]


class PolygonSettings(_GeoModel):
    """A GeoJSON Polygon: an outer ring, then holes."""

    type: Literal["Polygon"]
    coordinates: list[Ring] = Field(min_length=1)


class MultiPolygonSettings(_GeoModel):
    """A GeoJSON MultiPolygon."""

    type: Literal["MultiPolygon"]
    coordinates: list[Annotated[list[Ring], Field(min_length=1)]] = Field(min_length=1)


class GridPropertiesSettings(_GeoModel):
    """The properties a grid feature must carry."""

    grid_id: GridId
    name: str
    community: str
    street: str


class GridFeatureSettings(_GeoModel):
    """One cell."""

    type: Literal["Feature"]
    geometry: Annotated[PolygonSettings | MultiPolygonSettings, Field(discriminator="type")]
    properties: GridPropertiesSettings


class FeatureCollectionSettings(_GeoModel):
    """A whole grid file."""

    type: Literal["FeatureCollection"]
    features: list[GridFeatureSettings]


def load_grid_files(
    root: Path, files: list[Path]
) -> tuple[list[GridCellConfig], set[str], list[ConfigIssue]]:
    """Cells from every file, every grid id seen (even in a broken file), and all problems."""
    cells: list[GridCellConfig] = []
    seen: dict[str, str] = {}
    issues: list[ConfigIssue] = []
    for path in files:
        name = path.relative_to(root).as_posix()
        try:
            doc = load_json(path.read_text(encoding="utf-8-sig"))
        except UnicodeDecodeError:
            issues.append(ConfigIssue(name, 1, "-", "the file is not UTF-8 text"))
            continue
        except SyntaxProblem as exc:
            issues.append(ConfigIssue(name, exc.line, "-", exc.message))
            continue
        issues.extend(ConfigIssue(name, line, format_path(p), m) for p, line, m in doc.problems)
        issues.extend(_duplicate_ids(doc, name, seen))
        try:
            collection = FeatureCollectionSettings.model_validate(doc.data)
        except ValidationError as exc:
            issues.extend(issues_from_validation(exc, doc, name, FeatureCollectionSettings))
            continue
        for index, feature in enumerate(collection.features):
            props = feature.properties
            geometry = doc.data["features"][index]["geometry"]
            cells.append(
                GridCellConfig(
                    props.grid_id, props.name, props.community, props.street, geometry, name
                )
            )
    return cells, set(seen), issues


def _duplicate_ids(doc: LocatedDocument, file: str, seen: dict[str, str]) -> list[ConfigIssue]:
    """Grid ids must be unique across all grid files; the second one is reported."""
    issues = []
    features = doc.data.get("features") if isinstance(doc.data, dict) else None
    for index, feature in enumerate(features if isinstance(features, list) else []):
        props = feature.get("properties") if isinstance(feature, dict) else None
        grid_id = props.get("grid_id") if isinstance(props, dict) else None
        if not isinstance(grid_id, str):
            continue
        path = ("features", index, "properties", "grid_id")
        line = doc.line_of(path)
        if grid_id in seen:
            message = f"grid_id '{grid_id}' is already used at {seen[grid_id]}"
            issues.append(ConfigIssue(file, line, format_path(path), message))
        else:
            seen[grid_id] = f"{file}:{line}"
    return issues
