"""Route declarations: one `Route` per operation, registered on the app and documented.

A route names its method, path, parameters, answers and the roles that may
call it. `register` adds it to the router behind a wrapper that checks the
role and parses the parameters, and `api.openapi` writes the spec from the
same declarations, so what is validated and what is documented cannot drift.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from api.context import IDENTITY
from api.params import Args, Param, parse_args
from api.problems import Problem

__all__ = ["ROUTES", "Answer", "Route", "RouteHandler", "register"]

RouteHandler = Callable[[web.Request, Args], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Answer:
    """A documented successful answer: its media type, JSON Schema and headers.

    `also` lists other media types the same status may answer with (by a
    parameter such as `format=`), each with its schema.
    """

    description: str
    schema: Mapping[str, Any] | None = None
    media_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    also: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """One operation of the API.

    `path` is as documented (`/api/v1/snapshots/{id}.jpg`); path parameters
    that declare a `pattern` are matched by it. `roles` limits who may call
    (None: every authenticated caller, or anyone on a public path). `problems`
    lists error statuses the route answers besides 400/401/403, which are
    documented from the parameters, the auth rule and `roles`. `body` is the
    JSON Schema of a required JSON request body, which the handler reads with
    `api.params.json_object` (None: the route takes no body).
    """

    method: str
    path: str
    handler: RouteHandler
    summary: str
    params: tuple[Param, ...] = ()
    answers: Mapping[int, Answer] = field(default_factory=dict)
    roles: frozenset[str] | None = None
    problems: tuple[int, ...] = (503,)
    description: str = ""
    tag: str = "catalog"
    body: Mapping[str, Any] | None = None

    @property
    def name(self) -> str:
        """A unique operation id, derived from the handler's name."""
        return self.handler.__name__

    @property
    def router_path(self) -> str:
        """The path as aiohttp's router matches it (path parameters with their patterns)."""
        path = self.path
        for param in self.params:
            if param.location == "path" and param.pattern is not None:
                path = path.replace(f"{{{param.name}}}", f"{{{param.name}:{param.pattern}}}")
        return path


ROUTES = web.AppKey("routes", tuple[Route, ...])


def _endpoint(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        if route.roles is not None:
            identity = request.get(IDENTITY)
            if identity is None or identity.role not in route.roles:
                raise Problem(
                    403, f"this route is for the {' or '.join(sorted(route.roles))} role only"
                )
        return await route.handler(request, parse_args(request, route.params))

    endpoint.__name__ = route.name
    return endpoint


def register(app: web.Application, routes: Sequence[Route]) -> None:
    """Add `routes` to the app's router and remember them for the spec."""
    names = [route.name for route in routes]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"route handlers must have unique names: {sorted(duplicates)}")
    for route in routes:
        app.router.add_route(route.method, route.router_path, _endpoint(route), name=route.name)
    app[ROUTES] = tuple(routes)
