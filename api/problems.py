"""Errors as `application/problem+json` (RFC 9457), and the middleware that renders them.

Every error the API answers has `type`, `title`, `status` and `detail`; bad
parameters add `invalid_params: [{"name", "reason"}]`. `type` is a relative
reference into the docs page, where each kind of problem is explained.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.exc import SQLAlchemyError

from catalog.store import ObjectMissing, StoreError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_TYPES",
    "Problem",
    "invalid_params",
    "problem_response",
    "problems_middleware",
]

log = logging.getLogger("camgrid.api")

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
_DOCS: Final = "/api/v1/docs#problem-"
#: The kinds of problem, by the anchor of their explanation on the docs page.
PROBLEM_TYPES: Final[Mapping[int, str]] = {
    400: "invalid-parameters",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    500: "internal-error",
    503: "unavailable",
}


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    invalid: Sequence[Mapping[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A problem+json response; `title` defaults to the status phrase."""
    body: dict[str, Any] = {
        "type": _DOCS + PROBLEM_TYPES.get(status, "other"),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if invalid:
        body["invalid_params"] = [dict(item) for item in invalid]
    response = web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )
    return response


class Problem(Exception):
    """Raised by handlers to answer with a problem; `problems_middleware` renders it."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        invalid: Sequence[Mapping[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.invalid = tuple(invalid)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        """This problem as a response."""
        return problem_response(
            self.status, self.detail, title=self.title, invalid=self.invalid, headers=self.headers
        )


def invalid_params(*problems: tuple[str, str]) -> Problem:
    """A 400 naming each bad parameter with its reason: `invalid_params(("limit", "…"))`."""
    names = ", ".join(name for name, _ in problems)
    return Problem(
        400,
        f"invalid parameter{'s' if len(problems) > 1 else ''}: {names}",
        title="Invalid parameters",
        invalid=[{"name": name, "reason": reason} for name, reason in problems],
    )


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into problem+json: our problems, aiohttp's, the catalog's, the store's."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        detail = (
            exc.reason if exc.text is None or exc.text.startswith(str(exc.status)) else exc.text
        )
        return problem_response(exc.status, detail, headers=headers)
    except ObjectMissing:
        return problem_response(404, "the object is missing from the store")
    except StoreError as exc:
        log.warning("store error on %s %s: %s", request.method, request.path, exc)
        return problem_response(503, "the object store is unavailable; try again shortly")
    except (SQLAlchemyError, ConnectionError, TimeoutError) as exc:
        log.warning("catalog error on %s %s: %s", request.method, request.path, exc)
        return problem_response(503, "the catalog database is unavailable; try again shortly")
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return problem_response(500, "an unexpected error; it has been logged")
