"""On-demand captures: ask a camera for a picture now, and follow the request.

The API only records the request (and its audit row); an ingest worker takes
it from the catalog, polls the camera and records the picture. The handler
watches the request for up to `wait` seconds: 201 with the snapshot when it
is done by then, else 202 with the request to poll (also when it failed, with
its `error`). Reading a request that stayed `pending` longer than
`catalog.captures.EXPIRE_S` fails it as expired (and writes that down), so a
client polling learns that no ingest worker is running even when none runs
anywhere to expire it.
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web

from api.auth import require_own_department
from api.context import CATALOG, IDENTITY
from api.params import Args, Param, integer
from api.problems import Problem
from api.routes.cameras import UID
from api.routing import Answer, Route
from api.schemas import ref
from api.shapes import capture_json, capture_path, json_response, snapshot_json
from catalog.captures import (
    EXPIRE_S,
    EXPIRED,
    FINISHED_STATES,
    current_capture,
    request_capture,
)
from catalog.models import Camera, CaptureRequest, Snapshot
from catalog.queries.audit import record_access
from catalog.queries.snapshots import get_snapshot

__all__ = ["ROUTES"]

MAX_WAIT_S: Final = 60
#: How often a waiting handler looks at its request again.
WATCH_EVERY_S: Final = 0.2

WAIT: Final = Param(
    "wait",
    f"Seconds to wait for the picture, 0 to {MAX_WAIT_S}; 0 answers 202 at once.",
    integer(0, MAX_WAIT_S),
    {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_S},
    default=10,
)
CAPTURE_ID: Final = Param(
    "id",
    "The capture request's id.",
    integer(1, 2**63 - 1),
    {"type": "integer", "minimum": 1},
    location="path",
    pattern=r"\d+",
)


async def _capture_with_snapshot(
    request: web.Request, capture_id: int
) -> tuple[CaptureRequest, Snapshot | None] | None:
    async with request.app[CATALOG].sessions() as session, session.begin():
        capture = await current_capture(session, capture_id)
        if capture is None:
            return None
        snapshot = None
        if capture.state == "done" and capture.snapshot_id is not None:
            snapshot = await get_snapshot(session, capture.snapshot_id)
        return capture, snapshot


async def capture(request: web.Request, args: Args) -> web.StreamResponse:
    """Record a capture request (audited), then wait up to `wait` seconds for its picture."""
    uid = args.string("uid")
    assert uid is not None
    identity = request[IDENTITY]
    async with request.app[CATALOG].sessions() as session, session.begin():
        camera = await session.get(Camera, uid)
        if camera is None:
            raise Problem(404, f"no camera {uid!r}")
        require_own_department(identity, camera.department_id, "capture from")
        if camera.status == "retired":
            raise Problem(409, f"camera {uid!r} is retired")
        created = await request_capture(session, camera_uid=uid, requested_by=identity.name)
        await record_access(
            session,
            principal=identity.name,
            role=identity.role,
            action="capture",
            camera_uid=uid,
            snapshot_id=None,
            client=request.remote or "",
        )
        capture_id = created.id
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.integer("wait")
    while True:
        found = await _capture_with_snapshot(request, capture_id)
        assert found is not None  # requests are never deleted
        current, snapshot = found
        if snapshot is not None:
            headers = {"Location": snapshot_json(snapshot)["image_url"]}
            return json_response(snapshot_json(snapshot), status=201, headers=headers)
        left = deadline - loop.time()
        if current.state in FINISHED_STATES or left <= 0:
            return json_response(
                capture_json(current, None),
                status=202,
                headers={"Location": capture_path(capture_id)},
            )
        await asyncio.sleep(min(WATCH_EVERY_S, left))


async def show_capture(request: web.Request, args: Args) -> web.StreamResponse:
    """A capture request: its state, and the snapshot once done (failed once expired)."""
    capture_id = args.integer("id")
    found = await _capture_with_snapshot(request, capture_id)
    if found is None:
        raise Problem(404, f"no capture {capture_id}")
    return json_response(capture_json(*found))


ROUTES: Final = (
    Route(
        "POST",
        "/api/v1/cameras/{uid}/capture",
        capture,
        "Take a snapshot now",
        params=(UID, WAIT),
        answers={
            201: Answer(
                "Taken within `wait`: the snapshot (`Location`: its image)",
                ref("Snapshot"),
                headers={"Location": "the snapshot's image_url"},
            ),
            202: Answer(
                "Not done within `wait` (or failed: see `state` and `error`):"
                " poll the request at `poll`",
                ref("Capture"),
                headers={"Location": "the capture request, /api/v1/captures/{id}"},
            ),
        },
        problems=(403, 404, 409, 503),
        description="Operators and admins may capture from any camera; a department token"
        " only from its own department's cameras (403 elsewhere). Writes an audit row."
        " An ingest worker carries the capture out; the picture is stored even when it"
        " looks like the last one, and the camera's schedule is left as it was.",
        tag="cameras",
    ),
    Route(
        "GET",
        "/api/v1/captures/{id}",
        show_capture,
        "A capture request",
        params=(CAPTURE_ID,),
        answers={200: Answer("The request", ref("Capture"))},
        problems=(404, 503),
        description=f"A request still `pending` after {EXPIRE_S:g} s (no ingest worker took"
        " it) is reported, and recorded, as `failed` with the error"
        f" `{EXPIRED}`.",
        tag="cameras",
    ),
)
