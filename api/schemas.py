"""JSON Schemas of the answers, for the OpenAPI document (`components.schemas`).

They describe what `api.shapes` writes; `tests/integration/test_api.py`
checks real answers against the required keys listed here.
"""

from __future__ import annotations

from typing import Any, Final

from api.params import GRID_ID_PATTERN
from catalog.captures import CAPTURE_STATES
from catalog.crs import CRS_NAMES
from catalog.models import CAMERA_STATUSES
from catalog.queries.audit import AUDIT_ACTIONS

__all__ = ["SCHEMAS", "page_of", "ref"]


def ref(name: str) -> dict[str, Any]:
    """A reference to a component schema."""
    if name not in SCHEMAS:
        raise KeyError(f"no schema named {name!r}")
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], *, required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def page_of(item_schema: dict[str, Any]) -> dict[str, Any]:
    """`{"items": [...], "next_cursor": str | null}`."""
    return _object({"items": {"type": "array", "items": item_schema}, "next_cursor": _CURSOR})


_STR: Final = {"type": "string"}
_INT: Final = {"type": "integer"}
_NUM: Final = {"type": "number"}
_TIME: Final = {"type": "string", "format": "date-time"}
_CURSOR: Final = {"type": ["string", "null"], "description": "pass back as `cursor=`"}
_REF = "#/components/schemas/"

_COUNTS = _object({name: _INT for name in ("total", *CAMERA_STATUSES)})
_COUNTS["description"] = "Cameras by status; `total` leaves retired cameras out."

_CAMERA = _object(
    {
        "uid": {"type": "string", "description": "DEPARTMENT:ID"},
        "department": _STR,
        "id": _STR,
        "name": _STR,
        "address": _STR,
        "location": _nullable(
            _object({"lon": _NUM, "lat": _NUM}) | {"description": f"in crs= ({CRS_NAMES})"}
        ),
        "grid_id": {"type": ["string", "null"]},
        "community": {"type": ["string", "null"]},
        "kind": _STR,
        "tags": {"type": "array", "items": _STR},
        "status": {"type": "string", "enum": list(CAMERA_STATUSES)},
        "status_reason": _STR,
        "status_since": _TIME,
        "last_snapshot_at": {"type": ["string", "null"], "format": "date-time"},
        "gb28181": {"type": ["object", "null"], "description": "the decoded GB/T 28181 id"},
        "distance_m": {"type": "number", "description": "only with near="},
        "source": {"$ref": "#/components/schemas/SourceLayer"},
        "override": {"$ref": "#/components/schemas/OverrideLayer"},
    },
    required=[
        "uid", "department", "id", "name", "address", "location", "grid_id", "community",
        "kind", "tags", "status", "status_reason", "status_since", "last_snapshot_at", "gb28181",
    ],
)  # fmt: skip

_SNAPSHOT = _object(
    {
        "id": _INT,
        "camera_uid": _STR,
        "captured_at": _TIME | {"description": "when camgrid received it, UTC (…Z)"},
        "width": _INT,
        "height": _INT,
        "bytes": _INT,
        "sha256": _STR,
        "image_url": {"type": "string", "description": "/api/v1/snapshots/{id}.jpg"},
        "thumb_url": {"type": "string", "description": "/api/v1/snapshots/{id}.jpg?size=thumb"},
        "quality": _object(
            {"brightness": _NUM, "sharpness": _NUM, "flags": {"type": "array", "items": _STR}}
        ),
    }
)

_LAYER_LOCATION = _object(
    {"lon": _NUM, "lat": _NUM, "crs": {"type": "string", "enum": list(CRS_NAMES)}}
)
_LAYER_LOCATION["description"] = "as written, in its own crs"

_CELL = _object({"grid_id": _STR, "name": _STR, "community": _STR, "street": _STR})

_GRID_FEATURE = _object(
    {
        "type": {"const": "Feature"},
        "id": _STR,
        "geometry": {"type": "object", "description": "GeoJSON Polygon or MultiPolygon"},
        "properties": _object(
            {
                "grid_id": _STR,
                "name": _STR,
                "community": _STR,
                "street": _STR,
                "cameras": {"$ref": _REF + "StatusCounts"},
            }
        ),
    }
)

_CAMERA_FEATURE = _object(
    {
        "type": {"const": "Feature"},
        "id": _STR,
        "geometry": {"type": ["object", "null"], "description": "a GeoJSON Point, in crs="},
        "properties": {"$ref": _REF + "Camera", "description": "the camera, without location"},
    }
)

_DEPARTMENT_COUNTS = {"id": _STR, "name": _STR, "cameras": {"$ref": _REF + "StatusCounts"}}
_INVENTORY = _object(
    {
        "kind": _STR,
        "last_sync_at": {"type": ["string", "null"], "format": "date-time"},
        "count": {"type": ["integer", "null"]},
        "error": {"type": ["string", "null"]},
    }
)

SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "Problem": _object(
        {
            "type": _STR,
            "title": _STR,
            "status": _INT,
            "detail": _STR,
            "invalid_params": {
                "type": "array",
                "items": _object({"name": _STR, "reason": _STR}),
            },
        },
        required=["type", "title", "status", "detail"],
    ),
    "StatusCounts": _COUNTS,
    "Camera": _CAMERA,
    "CameraDetail": {
        "allOf": [
            {"$ref": _REF + "Camera"},
            _object(
                {
                    "cell": _nullable(_CELL),
                    "last_snapshot": _nullable({"$ref": _REF + "Snapshot"}),
                }
            ),
        ]
    },
    "CameraPage": page_of({"$ref": _REF + "Camera"}),
    "CameraFeatureCollection": _object(
        {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": _CAMERA_FEATURE},
            "next_cursor": _CURSOR,
        }
    ),
    "Snapshot": _SNAPSHOT,
    "SnapshotPage": page_of({"$ref": _REF + "Snapshot"}),
    "WallPage": page_of(
        _object(
            {
                "camera_uid": _STR,
                "name": _STR,
                "status": {"type": "string", "enum": list(CAMERA_STATUSES)},
                "snapshot_id": {"type": ["integer", "null"]},
                "captured_at": {"type": ["string", "null"], "format": "date-time"},
                "thumb_url": {"type": ["string", "null"]},
            }
        )
    ),
    "GridFeature": _GRID_FEATURE,
    "GridFeatureCollection": _object(
        {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": {"$ref": _REF + "GridFeature"}},
        }
    ),
    "DepartmentList": _object(
        {
            "items": {
                "type": "array",
                "items": _object(
                    _DEPARTMENT_COUNTS | {"inventories": {"type": "array", "items": _INVENTORY}}
                ),
            }
        }
    ),
    "Stats": _object(
        {
            "cameras": {"$ref": _REF + "StatusCounts"},
            "snapshots": _object({"total": _INT, "last_minute": _INT}),
            "departments": {"type": "array", "items": _object(_DEPARTMENT_COUNTS)},
        }
    ),
    "AuditPage": page_of(
        _object(
            {
                "principal": _STR,
                "role": _STR,
                "action": {"type": "string", "enum": list(AUDIT_ACTIONS)},
                "camera_uid": {"type": ["string", "null"]},
                "snapshot_id": {"type": ["integer", "null"]},
                "at": _TIME,
                "client": _STR,
                "target": {
                    "type": ["string", "null"],
                    "description": "what the action changed: the token's name for"
                    " token_create and token_revoke; null otherwise",
                },
            }
        )
    ),
    "Health": _object({"status": {"const": "ok"}}),
    "SourceLayer": _object(
        {
            "name": _STR,
            "address": {"type": ["string", "null"]},
            "location": _nullable(_LAYER_LOCATION),
            "grid_id": {"type": ["string", "null"]},
        }
    )
    | {"description": "What the camera's source reported (only with layers=1)."},
    "OverrideLayer": _object(
        {"name": _STR, "location": _LAYER_LOCATION, "grid_id": _STR}, required=[]
    )
    | {"description": "An operator's overrides, by field (only with layers=1)."},
    "OverrideRequest": {
        "type": "object",
        "description": "A JSON merge patch of the override: a field set to null drops its"
        " override, so the source's value applies again.",
        "properties": {
            "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 300},
            "location": _nullable(
                {
                    "type": "object",
                    "properties": {
                        "lon": {"type": "number", "minimum": -180, "maximum": 180},
                        "lat": {"type": "number", "minimum": -90, "maximum": 90},
                    },
                    "required": ["lon", "lat"],
                    "additionalProperties": False,
                    "description": "in the crs= of the request",
                }
            ),
            "grid_id": {"type": ["string", "null"], "pattern": GRID_ID_PATTERN},
        },
        "additionalProperties": False,
        "minProperties": 1,
    },
    "EventPage": page_of(
        _object(
            {
                "at": _TIME,
                "status": {"type": "string", "enum": list(CAMERA_STATUSES)},
                "reason": _STR,
            }
        )
    ),
    "Capture": _object(
        {
            "capture_id": _INT,
            "camera_uid": _STR,
            "state": {"type": "string", "enum": list(CAPTURE_STATES)},
            "requested_by": _STR,
            "requested_at": _TIME,
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "error": {"type": ["string", "null"], "description": "why a failed capture failed"},
            "snapshot": _nullable({"$ref": _REF + "Snapshot"}),
            "poll": {"type": "string", "description": "/api/v1/captures/{id}"},
        }
    ),
}
