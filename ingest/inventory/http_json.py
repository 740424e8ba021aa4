"""``http_json`` inventories: the camera list of a department platform's JSON API.

Each answer holds the list at a dotted path (``items: data.list``); each item's
fields are mapped by ``map`` (a field name may itself be dotted). With ``pages``
the fetch asks page after page (``pageNo=1&pageSize=100``, …) until a page comes
back shorter than the page size. Requests go through the caller's shared
:class:`aiohttp.ClientSession` with the department's ``defaults.auth`` (none,
Basic -- the header is built here, ``aiohttp.BasicAuth`` being deprecated -- or
Digest through an :class:`aiohttp.DigestAuthMiddleware` passed per request) and
its ``timeout`` for connecting and for each read. Every page is capped in bytes
(decompressed) and in time, and the number of pages is capped: a fetch that hits
a cap fails whole, because a partial list would retire the cameras left out.
"""

from __future__ import annotations

import base64
import codecs
import json
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from yarl import URL

from config import DepartmentConfig, HttpJsonInventorySettings, InventorySettings
from ingest.inventory.base import InventoryContext, InventoryError, InventoryResult
from ingest.inventory.rows import RowCollector, mapped_fields, shown

MAX_PAGE_BYTES = 8 << 20
MAX_PAGES = 1000
PAGE_TIMEOUT_S = 120.0  # a whole page, however slowly it trickles in
CONNECT_TIMEOUT_S = 10.0
MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
_PLATFORM_MESSAGES = ("msg", "message", "errMsg", "errorMsg", "error")


def public_url(url: str) -> str:
    """``url`` without its query, fragment or userinfo: fit for labels and messages."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return "(invalid URL)"
    return str(parsed.with_user(None).with_query(None).with_fragment(None))


def basic_authorization(username: str, password: str) -> str:
    """An ``Authorization: Basic`` value, UTF-8 (RFC 7617)."""
    if ":" in username:
        raise InventoryError("the department's auth username cannot contain ':'")
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def walk(document: Any, path: str) -> Any:
    """The value at a dotted ``path`` (list positions as numbers); KeyError naming the step."""
    node = document
    walked: list[str] = []
    for part in path.split(".") if path else ():
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            under = ".".join(walked) or "the top level"
            if isinstance(node, Mapping):
                keys = ", ".join(str(key) for key in list(node)[:12]) or "none"
                raise KeyError(f"no '{part}' under {under} (keys there: {keys})")
            raise KeyError(f"no '{part}' under {under}, which is {_json_type(node)}")
        walked.append(part)
    return node


def field_value(item: Mapping[str, Any], key: str) -> Any:
    """An item's field: the key as written, else a dotted path into it; None if absent."""
    if key in item:
        return item[key]
    try:
        return walk(item, key)
    except KeyError:
        return None


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _platform_says(document: Any) -> str:
    if isinstance(document, Mapping):
        for key in _PLATFORM_MESSAGES:
            value = document.get(key)
            if isinstance(value, str) and value.strip():
                return f"; the platform says {shown(value)}"
    return ""


def parse_json(body: bytes, charset: str | None, place: str) -> Any:
    """The JSON document of an answer, decoded with its charset (default UTF-8)."""
    try:
        encoding = codecs.lookup(charset).name if charset else "utf-8"
    except LookupError:  # a charset Python does not know: try UTF-8
        encoding = "utf-8"
    if encoding == "utf-8":
        encoding = "utf-8-sig"  # a BOM is not JSON
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InventoryError(
            f"{place}: the answer is not {encoding} text (byte {exc.start})"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(
            f"{place}: the answer is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}; "
            f"it starts {shown(text[:30])})"
        ) from None
    except RecursionError:
        raise InventoryError(f"{place}: the answer is nested too deeply") from None


class HttpJsonFetcher:
    """Fetches ``http_json`` inventories through the context's HTTP session."""

    def __init__(
        self,
        ctx: InventoryContext,
        *,
        max_page_bytes: int = MAX_PAGE_BYTES,
        max_pages: int = MAX_PAGES,
        page_timeout_s: float = PAGE_TIMEOUT_S,
    ) -> None:
        self._session = ctx.session
        self._max_page_bytes = max_page_bytes
        self._max_pages = max_pages
        self._page_timeout_s = page_timeout_s

    async def fetch(self, spec: InventorySettings, department: DepartmentConfig) -> InventoryResult:
        """Every page of the list; :class:`InventoryError` if any page fails."""
        if not isinstance(spec, HttpJsonInventorySettings):
            raise TypeError(f"HttpJsonFetcher cannot read a {spec.kind} inventory")
        request = self._request_options(department)
        label = public_url(spec.url)
        columns = mapped_fields(spec.map)
        collector = RowCollector()
        pages = spec.pages
        previous: list[Any] | None = None
        for index in range(self._max_pages):
            url = URL(spec.url)
            place = label
            if pages is not None:
                number = pages.start + index
                url = url.update_query({pages.param: number, pages.size_param: pages.size})
                place = f"{label} page {number}"
            document = await self._get(url, request, place)
            items = self._items(document, spec.items, place)
            if pages is not None and previous is not None and items and items == previous:
                raise InventoryError(
                    f"{place} repeats the page before it; does the platform read '{pages.param}'?"
                )
            if index == 0:
                self._check_id_field(items, spec.map.id, place)
            for position, item in enumerate(items, start=1):
                here = f"{place} item {position}"
                if not isinstance(item, Mapping):
                    collector.reject(here, f"is {_json_type(item)}, not an object")
                    continue
                values = {name: field_value(item, key) for name, key in columns.items()}
                collector.add(here, values, columns)
            if pages is None or len(items) < pages.size:
                return collector.result()
            previous = items
        raise InventoryError(
            f"{label}: more than {self._max_pages} pages; stopped, and nothing was synced"
        )

    def _request_options(self, department: DepartmentConfig) -> dict[str, Any]:
        auth = department.defaults.auth
        timeout_s = department.defaults.timeout.total_seconds()
        headers = {"Accept": "application/json, */*;q=0.5"}
        middlewares: Sequence[aiohttp.DigestAuthMiddleware] = ()
        password = auth.password.get_secret_value() if auth.password is not None else ""
        if auth.scheme == "basic" and auth.username is not None:
            headers["Authorization"] = basic_authorization(auth.username, password)
        elif auth.scheme == "digest" and auth.username is not None:
            try:  # one per fetch: later pages answer the remembered challenge at once
                middlewares = (aiohttp.DigestAuthMiddleware(auth.username, password),)
            except ValueError:
                raise InventoryError("the department's auth username cannot contain ':'") from None
        timeout = aiohttp.ClientTimeout(
            total=max(self._page_timeout_s, timeout_s),
            sock_connect=min(timeout_s, CONNECT_TIMEOUT_S),
            sock_read=timeout_s,
        )
        return {"headers": headers, "middlewares": middlewares, "timeout": timeout}

    async def _get(self, url: URL, request: dict[str, Any], place: str) -> Any:
        timeout: aiohttp.ClientTimeout = request["timeout"]
        try:
            async with self._session.get(url, max_redirects=MAX_REDIRECTS, **request) as response:
                if response.status in (401, 403):
                    raise InventoryError(
                        f"{place}: HTTP {response.status}: the platform refused the "
                        "credentials of the department's defaults.auth"
                    )
                if not 200 <= response.status < 300:
                    raise InventoryError(f"{place}: HTTP {response.status} {response.reason or ''}")
                body = await self._read_capped(response, place)
                charset = response.charset
        except InventoryError:
            raise
        except TimeoutError:
            raise InventoryError(
                f"{place}: timed out (no answer within {timeout.sock_read:g} s, "
                f"or the page took over {timeout.total:g} s)"
            ) from None
        except aiohttp.TooManyRedirects:
            raise InventoryError(f"{place}: more than {MAX_REDIRECTS} redirects") from None
        except aiohttp.ClientConnectorError as exc:
            why = (
                "connection refused"
                if isinstance(exc.os_error, ConnectionRefusedError)
                else "unreachable"
            )
            if isinstance(exc, aiohttp.ClientConnectorDNSError):
                why = "unknown host"
            raise InventoryError(f"{place}: cannot connect ({why})") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise InventoryError(f"{place}: request failed ({type(exc).__name__})") from None
        return parse_json(body, charset, place)

    async def _read_capped(self, response: aiohttp.ClientResponse, place: str) -> bytes:
        cap = self._max_page_bytes
        too_big = InventoryError(f"{place}: the answer is larger than {cap:,} bytes")
        if response.content_length is not None and response.content_length > cap:
            raise too_big
        body = bytearray()
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            if len(body) + len(chunk) > cap:
                raise too_big
            body += chunk
        return bytes(body)

    @staticmethod
    def _items(document: Any, path: str, place: str) -> list[Any]:
        try:
            items = walk(document, path)
        except KeyError as exc:
            raise InventoryError(
                f"{place}: no list at '{path}': {exc.args[0]}{_platform_says(document)}"
            ) from None
        if not isinstance(items, list):
            where = f"'{path}'" if path else "the answer"
            raise InventoryError(
                f"{place}: {where} is {_json_type(items)}, not a list{_platform_says(document)}"
            )
        return items

    @staticmethod
    def _check_id_field(items: list[Any], key: str, place: str) -> None:
        objects = [item for item in items if isinstance(item, Mapping)]
        if objects and all(field_value(item, key) is None for item in objects):
            fields = ", ".join(str(k) for k in list(objects[0])[:12])
            raise InventoryError(
                f"{place}: no item has the id field '{key}' (fields of the first: {fields})"
            )
