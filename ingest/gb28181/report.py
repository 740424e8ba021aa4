"""What ``camgrid validate`` says about GB/T 28181: id checks, and registrations when serving.

:func:`gb28181_id_problems` is pure: the config already ensures 20 digits;
this adds the type code (digits 11-13), which must name something that can
register (a DVR/NVR or encoder 111-130, a camera 131-132 registering on its
own, a platform 200-299), and for camgrid's own id a signalling server
(200). :func:`registration_lines` reads the catalog, never creates or
migrates it, and reports each platform's registration when a worker runs
the endpoint.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from catalog.db import open_catalog
from catalog.gb28181 import decode_gb_id
from catalog.gb28181_platforms import endpoint_holder, platform_bindings
from catalog.models import utcnow
from config import LoadedConfig
from ingest.gb28181.platforms import platform_specs

__all__ = ["gb28181_id_problems", "registration_lines"]

REPORT_TIMEOUT_S = 5.0


def _registering_type(code: int) -> bool:
    return 111 <= code <= 132 or 200 <= code <= 299


def gb28181_id_problems(loaded: LoadedConfig) -> list[str]:
    """``DEPARTMENT inventories[N].device_id: …`` for ids whose type code cannot register."""
    problems: list[str] = []
    settings = loaded.settings.gb28181
    if settings is not None:
        decoded = decode_gb_id(settings.id)
        if decoded is not None and decoded.type_code != "200":
            problems.append(
                f"camgrid.toml gb28181.id: type code {decoded.type_code} "
                f"({decoded.type_name or 'unnamed'}); an upper platform's id has type 200"
            )
    seen: dict[str, str] = {}
    for department in loaded.departments:
        for position, inventory in enumerate(department.inventories):
            device_id = getattr(inventory, "device_id", None)
            if inventory.kind != "gb28181" or not isinstance(device_id, str):
                continue
            where = f"{department.file.name} inventories[{position}].device_id"
            decoded = decode_gb_id(device_id)
            if decoded is not None and not _registering_type(int(decoded.type_code)):
                problems.append(
                    f"{where}: type code {decoded.type_code} ({decoded.type_name or 'unnamed'}) "
                    "cannot register; expected a platform (200-299) or a recorder (111-130)"
                )
            if device_id in seen:
                problems.append(f"{where}: {device_id} is already listed by {seen[device_id]}")
            seen.setdefault(device_id, department.id)
            if settings is not None and device_id == settings.id:
                problems.append(f"{where}: {device_id} is camgrid's own id")
    return problems


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


async def _lines(loaded: LoadedConfig, base_dir: Path) -> list[str]:
    url = loaded.settings.database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = Path(parsed.database or "")
        if not (database if database.is_absolute() else base_dir / database).is_file():
            return ["gb28181: no catalog yet; registrations unknown"]
    catalog = open_catalog(url, base_dir=base_dir, pool_size=1)
    try:
        async with catalog.sessions() as session:
            now = utcnow()
            holder = await endpoint_holder(session, now)
            bindings = await platform_bindings(session) if holder else {}
    finally:
        await catalog.close()
    if holder is None:
        return ["gb28181: the SIP endpoint is not running; registrations unknown"]
    lines = [f"gb28181: SIP endpoint served by {holder}"]
    for device_id, spec in platform_specs(loaded).items():
        binding = bindings.get(device_id)
        who = f"gb28181 {device_id} ({spec.department.id})"
        if binding is None or binding.until <= now:
            lines.append(f"{who}: not registered")
            continue
        state = "online" if binding.state == "online" else f"offline ({binding.state})"
        until = _when(binding.until)
        lines.append(f"{who}: registered from {binding.contact} until {until}, {state}")
    return lines


async def registration_lines(loaded: LoadedConfig, base_dir: Path) -> list[str]:
    """One line per lower platform when the endpoint runs; empty without gb28181 inventories."""
    if not platform_specs(loaded):
        return []
    try:
        return await asyncio.wait_for(_lines(loaded, base_dir), REPORT_TIMEOUT_S)
    except Exception as exc:
        return [f"gb28181: catalog not reachable ({type(exc).__name__}); registrations unknown"]
