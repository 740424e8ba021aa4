"""An operator's override of a camera's name, location or grid cell (`PATCH /cameras/{uid}`).

The body is a JSON merge patch of the override: a field given sets it, a
field set to null drops it (the source's value applies again), a field left
out stays as it is. The override is kept in `Camera.override`, which no sync
touches, and the searchable columns are recomputed (`catalog.sync.set_override`);
every change writes a status event and an audit row.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from aiohttp import web

from api.auth import require_own_department
from api.context import CATALOG, IDENTITY
from api.filters import CRS
from api.params import GRID_ID_PATTERN, Args, json_object
from api.problems import Problem, invalid_params
from api.routes.cameras import UID
from api.routing import Answer, Route
from api.schemas import ref
from api.shapes import camera_detail_json, json_response, layers_json
from catalog.models import utcnow
from catalog.queries.audit import record_access
from catalog.queries.cameras import get_camera
from catalog.queries.snapshots import latest_snapshot
from catalog.sync import OverrideInvalid, UnknownCamera, set_override

__all__ = ["ROUTES", "override_changes"]

#: Body field -> the catalog's override field.
BODY_FIELDS: Final = {"name": "name", "location": "location", "grid_id": "grid"}
MAX_NAME: Final = 300
_GRID_ID: Final = re.compile(GRID_ID_PATTERN)


def _coordinate(value: object, name: str, limit: float) -> tuple[float | None, str | None]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, f"{name}: expected a number"
    if not (math.isfinite(value) and -limit <= value <= limit):
        return None, f"{name}: expected a number from -{limit:g} to {limit:g}"
    return float(value), None


def _location(value: object, crs: str, problems: list[tuple[str, str]]) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        problems.append(("location", "expected an object {lon, lat} or null"))
        return None
    for key in value:
        if key not in ("lon", "lat"):
            problems.append((f"location.{key}", "unknown field; expected lon and lat"))
    point: dict[str, Any] = {"crs": crs}
    for key, limit in (("lon", 180.0), ("lat", 90.0)):
        if key not in value:
            problems.append((f"location.{key}", "required"))
            continue
        number, reason = _coordinate(value[key], key, limit)
        if reason is not None:
            problems.append((f"location.{key}", reason))
        point[key] = number
    return point


def _change(key: str, value: object, crs: str, problems: list[tuple[str, str]]) -> object:
    """One body field's override value (None drops the override); bad values add a problem."""
    if value is None:
        return None
    if key == "name":
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_NAME:
            problems.append((key, f"expected 1 to {MAX_NAME} characters or null"))
        elif "\x00" in value:
            problems.append((key, "must not contain a NUL character"))
        else:
            return value.strip()
        return None
    if key == "location":
        return _location(value, crs, problems)
    if not isinstance(value, str) or _GRID_ID.fullmatch(value) is None:
        problems.append((key, "expected a grid cell id (1 to 64 of A-Z a-z 0-9 _ -) or null"))
        return None
    return value


def override_changes(body: dict[str, Any], crs: str) -> dict[str, Any]:
    """The catalog's override changes for a PATCH body; one 400 naming every bad field."""
    problems: list[tuple[str, str]] = []
    for key in body:
        if key not in BODY_FIELDS:
            problems.append((key, f"unknown field; expected {', '.join(BODY_FIELDS)}"))
    if not body:
        problems.append(("body", f"expected at least one of {', '.join(BODY_FIELDS)}"))
    changes = {
        field: _change(key, body[key], crs, problems)
        for key, field in BODY_FIELDS.items()
        if key in body
    }
    if problems:
        raise invalid_params(*problems)
    return changes


def _field_of(exc: OverrideInvalid) -> str:
    """The body field an `OverrideInvalid` message names (`grid: …` is `grid_id`)."""
    field = str(exc).split(":", 1)[0]
    return "grid_id" if field == "grid" else field


async def override_camera(request: web.Request, args: Args) -> web.StreamResponse:
    """Set or drop overrides of a camera's name, location or grid cell."""
    uid = args.string("uid")
    assert uid is not None
    crs = args.string("crs") or "wgs84"
    identity = request[IDENTITY]
    catalog = request.app[CATALOG]
    async with catalog.sessions() as session:
        row = await get_camera(session, uid)
    if row is None:
        raise Problem(404, f"no camera {uid!r}")
    require_own_department(identity, row.camera.department_id, "manage")
    changes = override_changes(await json_object(request), crs)
    async with catalog.sessions() as session, session.begin():
        try:
            await set_override(session, uid, changes, utcnow())
        except UnknownCamera:
            raise Problem(404, f"no camera {uid!r}") from None
        except OverrideInvalid as exc:
            raise invalid_params((_field_of(exc), str(exc).split(": ", 1)[-1])) from None
        await record_access(
            session,
            principal=identity.name,
            role=identity.role,
            action="override",
            camera_uid=uid,
            snapshot_id=None,
            client=request.remote or "",
        )
    async with catalog.sessions() as session:
        row = await get_camera(session, uid)
        assert row is not None
        last = await latest_snapshot(session, uid)
    return json_response(camera_detail_json(row, last, crs) | layers_json(row.camera))


ROUTES: Final = (
    Route(
        "PATCH",
        "/api/v1/cameras/{uid}",
        override_camera,
        "Override a camera's name, location or grid cell",
        params=(UID, CRS),
        body=ref("OverrideRequest"),
        answers={
            200: Answer(
                "The camera as it is now, with its `source` and `override` layers",
                ref("CameraDetail"),
            )
        },
        roles=frozenset({"admin", "department"}),
        problems=(404, 413, 415, 503),
        description="For admins, and for a department token on its own department's cameras"
        " (403 elsewhere). The body is a JSON merge patch of the override: a field set"
        " to null drops its override. `location` is read in `crs=`. No sync overwrites"
        " an override. Writes a status event and an audit row.",
        tag="cameras",
    ),
)
