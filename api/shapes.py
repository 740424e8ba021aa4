"""The JSON shapes clients rely on (DESIGN.md, "Shapes that clients rely on").

Cameras never carry their snapshot URL, credentials or scheduling state;
times are RFC 3339 in UTC with `Z`; locations are WGS-84 unless `crs=` asks
for another system.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from catalog.crs import from_wgs84
from catalog.models import AuditEntry, Camera, CameraStatusEvent, CaptureRequest, Snapshot
from catalog.queries.camera_rows import RenderedCamera
from catalog.queries.cameras import CameraRow
from catalog.sync import camera_layers

__all__ = [
    "audit_json",
    "camera_detail_json",
    "camera_feature",
    "camera_json",
    "capture_json",
    "capture_path",
    "event_json",
    "geometry_in_crs",
    "image_url",
    "json_response",
    "layers_json",
    "rendered_feature",
    "rendered_json",
    "rfc3339",
    "snapshot_json",
    "thumb_url",
]

_NESTED = ("coordinates", "geometries")


def json_response(
    data: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> web.Response:
    """A JSON answer; Chinese text stays readable (UTF-8, not \\u escapes).

    Encoded by orjson: a page of a hundred cameras costs a tenth of what the
    standard library takes, and it is the largest part of a search's cost.
    """
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        headers=headers,
        content_type=content_type,
        charset="utf-8",
    )


def rfc3339(value: datetime | None) -> str | None:
    """A time as RFC 3339 in UTC with `Z` (microseconds shown when not zero)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat() + "Z"


def image_url(snapshot_id: int) -> str:
    """The API path of a snapshot's image."""
    return f"/api/v1/snapshots/{snapshot_id}.jpg"


def thumb_url(snapshot_id: int) -> str:
    """The API path of a snapshot's thumbnail."""
    return f"{image_url(snapshot_id)}?size=thumb"


def camera_json(row: CameraRow, crs: str = "wgs84") -> dict[str, Any]:
    """A camera; `distance_m` is added when the row was found by `near`."""
    camera = row.camera
    location = _location(camera.lon, camera.lat, crs)
    shape: dict[str, Any] = {
        "uid": camera.uid,
        "department": camera.department_id,
        "id": camera.camera_id,
        "name": camera.name,
        "address": camera.address,
        "location": location,
        "grid_id": camera.grid_id,
        "community": row.cell.community if row.cell is not None else None,
        "kind": camera.kind,
        "tags": list(camera.tags or []),
        "status": camera.status,
        "status_reason": camera.status_reason,
        "status_since": rfc3339(camera.status_since),
        "last_snapshot_at": rfc3339(camera.last_snapshot_at),
        "gb28181": camera.gb28181,
    }
    if row.distance_m is not None:
        shape["distance_m"] = row.distance_m
    return shape


def _location(lon: float | None, lat: float | None, crs: str) -> dict[str, float] | None:
    if lon is None or lat is None:
        return None
    x, y = from_wgs84(crs, lon, lat)
    return {"lon": x, "lat": y}


def _completed(item: RenderedCamera, **extra: Any) -> orjson.Fragment:
    """The database's JSON text of a camera with its `community`, `extra` fields (and
    `distance_m`) added."""
    added = {"community": item.community, **extra}
    if item.distance_m is not None:
        added["distance_m"] = item.distance_m
    # Both are JSON objects: the database's without its closing brace, then ours
    # without its opening one.
    return orjson.Fragment(item.json[:-1] + b"," + orjson.dumps(added)[1:])


def rendered_json(item: RenderedCamera, crs: str = "wgs84") -> orjson.Fragment:
    """A camera in the list shape, from the database's JSON text: `camera_json`'s fields.

    The database writes every field but `community` and `location` (and
    `distance_m`), which are added here, `location` in `crs`; only the order
    of the keys differs.
    """
    location = _location(item.lon, item.lat, crs)
    if item.distance_m is None:
        # The commonest case, spliced without a dict: a fifth of a page's rendering.
        return orjson.Fragment(
            item.json[:-1]
            + b',"community":'
            + orjson.dumps(item.community)
            + b',"location":'
            + orjson.dumps(location)
            + b"}"
        )
    return _completed(item, location=location)


def _feature(uid: str, location: dict[str, float] | None, properties: Any) -> dict[str, Any]:
    """A GeoJSON Feature: the location as a Point (or null geometry)."""
    geometry = (
        None
        if location is None
        else {"type": "Point", "coordinates": [location["lon"], location["lat"]]}
    )
    return {"type": "Feature", "id": uid, "geometry": geometry, "properties": properties}


def rendered_feature(item: RenderedCamera, crs: str = "wgs84") -> dict[str, Any]:
    """A camera as a GeoJSON Feature, as `camera_feature` makes it, from the database's text."""
    return _feature(item.uid, _location(item.lon, item.lat, crs), _completed(item))


def camera_detail_json(
    row: CameraRow, last_snapshot: Snapshot | None, crs: str = "wgs84"
) -> dict[str, Any]:
    """A camera with its cell (`grid_id`, `name`, `community`, `street`) and last snapshot."""
    cell = row.cell
    return {
        **camera_json(row, crs),
        "cell": None
        if cell is None
        else {
            "grid_id": cell.grid_id,
            "name": cell.name,
            "community": cell.community,
            "street": cell.street,
        },
        "last_snapshot": None if last_snapshot is None else snapshot_json(last_snapshot),
    }


def camera_feature(row: CameraRow, crs: str = "wgs84") -> dict[str, Any]:
    """A camera as a GeoJSON Feature: its location as a Point (or null), the rest as properties."""
    properties = camera_json(row, crs)
    return _feature(row.camera.uid, properties.pop("location"), properties)


def snapshot_json(snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot with the API paths of its image and thumbnail."""
    return {
        "id": snapshot.id,
        "camera_uid": snapshot.camera_uid,
        "captured_at": rfc3339(snapshot.captured_at),
        "width": snapshot.width,
        "height": snapshot.height,
        "bytes": snapshot.bytes,
        "sha256": snapshot.sha256,
        "image_url": image_url(snapshot.id),
        "thumb_url": thumb_url(snapshot.id),
        "quality": {
            "brightness": snapshot.brightness,
            "sharpness": snapshot.sharpness,
            "flags": list(snapshot.flags or []),
        },
    }


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    """One access-log row."""
    return {
        "principal": entry.principal,
        "role": entry.role,
        "action": entry.action,
        "camera_uid": entry.camera_uid,
        "snapshot_id": entry.snapshot_id,
        "at": rfc3339(entry.at),
        "client": entry.client,
        "target": entry.target,
    }


def _layer(values: dict[str, Any]) -> dict[str, Any]:
    """A metadata layer with the API's field names (`grid_id`, as a PATCH body has it)."""
    shaped = {key: value for key, value in values.items() if key != "grid"}
    if "grid" in values:
        shaped["grid_id"] = values["grid"]
    return shaped


def layers_json(camera: Camera) -> dict[str, Any]:
    """`source` (what the camera's source reported) and `override` (an operator's fields).

    Locations in both are as written, with their own `crs`.
    """
    layers = camera_layers(camera)
    return {"source": _layer(layers["source"]), "override": _layer(layers["override"])}


def event_json(event: CameraStatusEvent) -> dict[str, Any]:
    """One change of a camera's status."""
    return {"at": rfc3339(event.at), "status": event.status, "reason": event.reason}


def capture_path(capture_id: int) -> str:
    """The API path to poll a capture request at."""
    return f"/api/v1/captures/{capture_id}"


def capture_json(capture: CaptureRequest, snapshot: Snapshot | None) -> dict[str, Any]:
    """A capture request; `snapshot` is the picture it took, once `done`."""
    return {
        "capture_id": capture.id,
        "camera_uid": capture.camera_uid,
        "state": capture.state,
        "requested_by": capture.requested_by,
        "requested_at": rfc3339(capture.requested_at),
        "finished_at": rfc3339(capture.finished_at),
        "error": capture.error,
        "snapshot": None if snapshot is None else snapshot_json(snapshot),
        "poll": capture_path(capture.id),
    }


def geometry_in_crs(value: Any, crs: str) -> Any:
    """GeoJSON coordinates (any nesting) converted from WGS-84 to `crs`."""
    if crs == "wgs84":
        return value
    if isinstance(value, dict):
        return {k: geometry_in_crs(v, crs) if k in _NESTED else v for k, v in value.items()}
    if (
        isinstance(value, list)
        and len(value) >= 2
        and all(isinstance(v, int | float) for v in value)
    ):
        return [*from_wgs84(crs, float(value[0]), float(value[1])), *value[2:]]
    if isinstance(value, list):
        return [geometry_in_crs(v, crs) for v in value]
    return value
