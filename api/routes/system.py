"""Public routes: liveness, metrics, the OpenAPI document, its docs page, and the console page."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web
from sqlalchemy import text

from api.context import CATALOG, OPENAPI
from api.metrics import METRICS, render_metrics
from api.params import Args
from api.problems import Problem
from api.routing import Answer, Route
from api.schemas import ref
from api.shapes import json_response

__all__ = ["ROUTES"]

_HERE = Path(__file__).resolve().parent.parent
DOCS_PAGE: Final = _HERE / "docs.html"
#: The operator console, when present; until then `/` points at the docs.
CONSOLE_PAGE: Final = _HERE / "static" / "index.html"
#: `<link rel="stylesheet" href="x.css">` and `<script type="module" src="x.js"></script>`
#: in the page name files beside it; they are inlined so that `/` alone serves the console.
_LINKED: Final = re.compile(
    r'<link rel="stylesheet" href="(?P<css>[\w.-]+\.css)">'
    r'|<script type="module" src="(?P<js>[\w.-]+\.js)"></script>'
)
HEALTH_TIMEOUT_S: Final = 2.0
_PLACEHOLDER: Final = (
    '<!doctype html><meta charset="utf-8"><title>camgrid</title>'
    '<p>camgrid API: see <a href="/api/v1/docs">/api/v1/docs</a>.</p>'
)


async def health(request: web.Request, args: Args) -> web.StreamResponse:
    """Liveness, with a cheap query so a lost database shows as 503."""
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            async with request.app[CATALOG].engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except TimeoutError:
        raise Problem(503, "the catalog database did not answer in time") from None
    return json_response({"status": "ok"})


async def metrics(request: web.Request, args: Args) -> web.StreamResponse:
    """Prometheus metrics of this process, with camera counts from the catalog."""
    return await render_metrics(request.app[METRICS], request.app[CATALOG])


async def openapi_json(request: web.Request, args: Args) -> web.StreamResponse:
    """The OpenAPI 3.1 document of every route."""
    return json_response(request.app[OPENAPI])


async def docs(request: web.Request, args: Args) -> web.StreamResponse:
    """A page that renders the spec; self-contained, no external scripts or styles."""
    page = await asyncio.to_thread(DOCS_PAGE.read_text, "utf-8")
    return web.Response(text=page, content_type="text/html")


@dataclass(frozen=True)
class ConsolePage:
    """The console as one document, and the CSP that admits exactly its inlined code."""

    html: str
    csp: str


def _sha256_source(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"


@functools.cache
def console_page() -> ConsolePage | None:
    """index.html with its stylesheet and module script inlined (read once per process)."""
    if not CONSOLE_PAGE.is_file():
        return None
    scripts: list[str] = []
    styles: list[str] = []

    def inline(match: re.Match[str]) -> str:
        css, js = match.group("css"), match.group("js")
        code = (CONSOLE_PAGE.parent / (css or js)).read_text("utf-8")
        tag = "style" if css else "script"
        if f"</{tag}" in code.lower():
            raise ValueError(f"{css or js} must not contain </{tag}")
        (styles if css else scripts).append(_sha256_source(code))
        return f"<style>{code}</style>" if css else f'<script type="module">{code}</script>'

    html = _LINKED.sub(inline, CONSOLE_PAGE.read_text("utf-8"))
    csp = (
        "default-src 'self'; "
        f"script-src 'self' {' '.join(scripts)}; "
        f"style-src 'self' {' '.join(styles)}; "
        "img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return ConsolePage(html, csp)


async def console(request: web.Request, args: Args) -> web.StreamResponse:
    """The operator console page (its data calls carry the token)."""
    page = await asyncio.to_thread(console_page)
    if page is None:
        return web.Response(text=_PLACEHOLDER, content_type="text/html")
    headers = {"Cache-Control": "no-cache", "Content-Security-Policy": page.csp}
    return web.Response(text=page.html, content_type="text/html", headers=headers)


_HTML: Final = {"type": "string", "contentMediaType": "text/html"}

ROUTES: Final = (
    Route(
        "GET",
        "/api/v1/health",
        health,
        "Liveness, with a database ping",
        answers={200: Answer("Up", ref("Health"))},
        tag="system",
    ),
    Route(
        "GET",
        "/api/v1/metrics",
        metrics,
        "Prometheus metrics",
        answers={200: Answer("Text exposition format", {"type": "string"}, "text/plain")},
        problems=(),
        tag="system",
    ),
    Route(
        "GET",
        "/api/v1/openapi.json",
        openapi_json,
        "This document",
        answers={200: Answer("OpenAPI 3.1", {"type": "object"})},
        problems=(),
        tag="system",
    ),
    Route(
        "GET",
        "/api/v1/docs",
        docs,
        "The spec rendered as a page",
        answers={200: Answer("HTML", _HTML, "text/html")},
        problems=(),
        tag="system",
    ),
    Route(
        "GET",
        "/",
        console,
        "The operator console",
        answers={200: Answer("HTML", _HTML, "text/html")},
        problems=(),
        tag="system",
    ),
)
