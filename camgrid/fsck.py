"""`camgrid fsck [--repair]`: report, and optionally repair, row/object inconsistencies."""

from __future__ import annotations

from pathlib import Path

from catalog.db import Catalog
from catalog.fsck import find_inconsistencies, repair
from catalog.store import open_store
from config import LoadedConfig

SHOWN = 20  # how many of each kind to list by name


async def run_fsck(
    catalog: Catalog, loaded: LoadedConfig, base_dir: Path, *, repair_it: bool
) -> int:
    """Print what is inconsistent; exit 0 when clean (or repaired), 1 otherwise."""
    store = open_store(loaded.settings.store_url, base_dir=base_dir)
    try:
        report = await find_inconsistencies(catalog, store)
        print(f"checked {report.rows_checked} snapshot rows and {report.objects_checked} objects")
        for snapshot_id in report.dangling_rows[:SHOWN]:
            print(f"dangling row: snapshot {snapshot_id} (its object is missing)")
        for key in report.orphan_objects[:SHOWN]:
            print(f"orphan object: {key}")
        for snapshot_id in report.missing_thumbs[:SHOWN]:
            print(f"missing thumbnail: snapshot {snapshot_id} (its image is stored)")
        kinds = (report.dangling_rows, report.orphan_objects, report.missing_thumbs)
        hidden = sum(max(0, len(found) - SHOWN) for found in kinds)
        if hidden:
            print(f"… and {hidden} more")
        dangling, orphans = len(report.dangling_rows), len(report.orphan_objects)
        print(f"{dangling} dangling rows, {orphans} orphan objects")
        if report.missing_thumbs:
            print(f"{len(report.missing_thumbs)} missing thumbnails")
        if report.clean:
            return 0
        if not repair_it:
            print(
                "run `camgrid fsck --repair` to delete them (missing thumbnails: to rebuild them)"
            )
            return 1
        await repair(catalog, store, report)
        for snapshot_id in report.unrebuilt_thumbs[:SHOWN]:
            print(f"thumbnail not rebuilt: snapshot {snapshot_id} (its image does not decode)")
        print("repaired")
        return 0
    finally:
        await store.close()
