"""The `camgrid` command line.

Every subcommand takes `--config DIR`. Config errors print as
`FILE:LINE PATH: message` lines and exit 2; no subcommand shows a traceback
for a user's mistake.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import re
import socket
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from camgrid.api_processes import REUSE_PORT, ApiProcessExited, watch_parent
from camgrid.logs import setup_logging
from camgrid.runtime import ServeOptions, opened_catalog, serve, stop_on_signals, sync_catalog
from catalog.models import utcnow
from catalog.principals import (
    PrincipalExists,
    create_principal,
    list_principals,
    revoke_principal,
)
from catalog.queries.audit import record_access
from config import ConfigInvalid, LoadedConfig, load_config
from ingest.gb28181.report import gb28181_id_problems, registration_lines
from ingest.inventory.sync import InventoryPreview, open_fetchers, preview

DEFAULT_CONFIG = Path("config/examples")
EXIT_CONFIG = 2
EXIT_USAGE = 2
EXIT_INVENTORY = 1  # validate: an inventory cannot be read at all
VALIDATE_PROBLEMS_SHOWN = 10


class CliError(Exception):
    """A user's mistake: printed as one line, exit 2."""


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="DIR",
        help="config folder with departments/, grids/ and camgrid.toml (default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="camgrid", description="One catalog of a district's cameras and their pictures."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check every department and grid file")
    _config_arg(p)

    p = sub.add_parser("serve", help="run the ingest scheduler and the API")
    _config_arg(p)
    p.add_argument("--no-ingest", action="store_true", help="do not poll cameras (API only)")
    p.add_argument("--no-api", action="store_true", help="do not serve HTTP (ingest worker only)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port", type=int, default=8080, help="port to listen on (default: %(default)s)"
    )
    p.add_argument("--concurrency", type=int, default=64, help="polls in flight (default: 64)")
    p.add_argument("--per-host", type=int, default=8, help="polls in flight per host (default: 8)")
    p.add_argument(
        "--api-processes",
        type=int,
        default=1,
        metavar="N",
        help="serve the API from N processes sharing the port (default: 1); the others"
        " are API only and stop with this one",
    )
    p.add_argument(
        "--reuse-port",
        action="store_true",
        help="listen with SO_REUSEPORT, so that other camgrid API processes can share the port",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="also serve Prometheus metrics at http://HOST:PORT/metrics, HOST being --host "
        "(for --no-api workers; 0 picks a free port)",
    )

    p = sub.add_parser(
        "demo", help="a simulated camera farm, a demo config, and camgrid serving it"
    )
    _config_arg(p)
    p.add_argument("--cameras", type=int, default=2000, help="how many cameras (default: 2000)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port", type=int, default=8080, help="port to listen on (default: %(default)s)"
    )

    p = sub.add_parser("token", help="create, list and revoke API tokens")
    _config_arg(p)
    tsub = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    c = tsub.add_parser("create", help="create a token; it is printed once")
    _config_arg(c)
    c.add_argument("--role", required=True, choices=["operator", "department", "admin"])
    c.add_argument("--department", help="the department a department token manages")
    c.add_argument("--name", required=True, help="who holds it (unique)")
    c.add_argument("--expires", help="lifetime such as 90d, 12h or 30m (default: never)")
    lst = tsub.add_parser("list", help="list tokens (never their values)")
    _config_arg(lst)
    r = tsub.add_parser("revoke", help="revoke a token by its holder's name")
    _config_arg(r)
    r.add_argument("name")

    p = sub.add_parser("fsck", help="find rows without objects and objects without rows")
    _config_arg(p)
    p.add_argument("--repair", action="store_true", help="delete what is dangling")

    p = sub.add_parser("db", help="database maintenance")
    _config_arg(p)
    dsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    u = dsub.add_parser("upgrade", help="run migrations to head")
    _config_arg(u)
    return parser


def load_or_report(root: Path) -> LoadedConfig:
    """Load the config folder; on errors print every one of them and exit 2."""
    if not root.is_dir():
        print(f"{root}: config folder not found", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    try:
        return load_config(root)
    except ConfigInvalid as exc:
        for issue in exc.issues:
            print(issue)
        files = len({issue.file for issue in exc.issues})
        print(f"camgrid: {len(exc.issues)} error(s) in {files} file(s)", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def cmd_validate(args: argparse.Namespace) -> int:
    """Check the config, then fetch every inventory and say what it would bring.

    Exit 2 for config errors; 1 if an inventory cannot be read at all (file
    missing, platform unreachable, no header); 0 otherwise -- rows an inventory
    rejects are the department's data, not config errors, and are listed.
    """
    loaded = load_or_report(args.config)
    previews = asyncio.run(_preview_inventories(loaded))
    rejected = unreadable = 0
    for department, department_previews in zip(loaded.departments, previews, strict=True):
        kinds = Counter(camera.snapshot_kind for camera in department.cameras)
        kind_text = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())) or "none"
        inventories = ", ".join(inv.kind for inv in department.inventories) or "none"
        print(
            f"{department.id} ({department.name}): {len(department.cameras)} cameras "
            f"[{kind_text}]; inventories: {inventories}"
        )
        for position, item in enumerate(department_previews):
            head = f"  inventories[{position}] {item.kind} {item.label}"
            if item.error is not None:
                unreadable += 1
                print(f"{head}: cannot be read: {item.error}")
            elif item.count is None:
                print(f"{head}: {item.note}")
            else:
                rejected += len(item.problems)
                print(f"{head}: would bring {item.count} cameras, reject {len(item.problems)}")
                for problem in item.problems[:VALIDATE_PROBLEMS_SHOWN]:
                    print(f"    {problem}")
                if len(item.problems) > VALIDATE_PROBLEMS_SHOWN:
                    print(f"    … and {len(item.problems) - VALIDATE_PROBLEMS_SHOWN} more")
    print(f"grid: {len(loaded.grid_cells)} cells")
    for warning in gb28181_id_problems(loaded):
        print(f"warning: {warning}")
    for line in asyncio.run(registration_lines(loaded, Path.cwd())):
        print(line)
    if rejected:
        print(
            f"note: {rejected} inventory row(s) would be rejected; they are the departments' "
            "data, not config errors: the other rows are still imported"
        )
    if unreadable:
        print(f"camgrid: {unreadable} inventory(ies) cannot be read", file=sys.stderr)
        return EXIT_INVENTORY
    return 0


async def _preview_inventories(loaded: LoadedConfig) -> list[list[InventoryPreview]]:
    async with open_fetchers() as fetchers:
        return list(await asyncio.gather(*(preview(d, fetchers) for d in loaded.departments)))


def parse_lifetime(text: str) -> timedelta:
    """`90d`, `12h`, `30m` as a timedelta."""
    match = re.fullmatch(r"(\d+)\s*([dhm])", text.strip())
    if not match:
        raise CliError(f"--expires: {text!r} is not a lifetime such as 90d, 12h or 30m")
    unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


async def cmd_token(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config)
    async with (
        opened_catalog(loaded, Path.cwd()) as catalog,
        catalog.sessions() as session,
        session.begin(),
    ):
        if args.token_command == "create":
            expires = utcnow() + parse_lifetime(args.expires) if args.expires else None
            if args.role == "department" and not args.department:
                raise CliError("--department is required for a department token")
            known = {d.id for d in loaded.departments}
            if args.department and args.department not in known:
                raise CliError(f"--department: no department {args.department!r} in config")
            try:
                token = await create_principal(
                    session,
                    name=args.name,
                    role=args.role,
                    department_id=args.department,
                    expires_at=expires,
                )
            except PrincipalExists:
                raise CliError(f"a token named {args.name!r} exists; revoke it first") from None
            await _audit_token_change(session, "token_create", args.name)
            print(f"token: {token}")
        elif args.token_command == "list":
            for p in await list_principals(session):
                state = "revoked" if p.revoked_at else "active"
                expires_text = p.expires_at.isoformat() if p.expires_at else "never"
                print(f"{p.name}\t{p.role}\t{p.department_id or '-'}\t{state}\t{expires_text}")
        elif not await revoke_principal(session, args.name):
            raise CliError(f"no token named {args.name!r}")
        else:
            await _audit_token_change(session, "token_revoke", args.name)
            print(f"revoked: {args.name}")
    return 0


def cli_principal() -> str:
    """Who runs the command line, as the audit log names them: `cli:<os user>`."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        user = str(os.getuid())
    return f"cli:{user}"


async def _audit_token_change(session: AsyncSession, action: str, name: str) -> None:
    """Record a token change in the audit log, in the same transaction as the change.

    The row's `target` is the token's name, never the token itself.
    """
    await record_access(
        session,
        principal=cli_principal(),
        role="cli",
        action=action,
        camera_uid=None,
        snapshot_id=None,
        client=socket.gethostname(),
        target=name,
    )


async def cmd_db_upgrade(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config)
    async with opened_catalog(loaded, Path.cwd()):
        print("catalog at head")
    return 0


async def cmd_serve(args: argparse.Namespace) -> int:
    from ingest.metrics import serve_metrics
    from ingest.worker import WorkerSettings

    if args.no_api and args.no_ingest:
        raise CliError("--no-api and --no-ingest together leave nothing to run")
    if args.api_processes < 1:
        raise CliError(f"--api-processes must be at least 1, not {args.api_processes}")
    if args.no_api and (args.api_processes > 1 or args.reuse_port):
        option = "--reuse-port" if args.reuse_port else "--api-processes"
        raise CliError(f"{option} is for the API, which --no-api turns off")
    if not REUSE_PORT and (args.api_processes > 1 or args.reuse_port):
        raise CliError("this platform cannot share a port between processes (no SO_REUSEPORT)")
    loaded = load_or_report(args.config)
    stop = asyncio.Event()
    stop_on_signals(stop)
    if args.metrics_port is not None:
        try:
            bound = serve_metrics(args.host, args.metrics_port)
        except OSError as exc:
            raise CliError(f"--metrics-port: cannot listen on {args.metrics_port}: {exc}") from None
        logging.getLogger("camgrid").info(
            "metrics listening on http://%s:%d/metrics", args.host, bound
        )
    async with opened_catalog(loaded, Path.cwd()) as catalog:
        await sync_catalog(catalog, loaded)
        options = ServeOptions(
            host=args.host,
            port=args.port,
            api=not args.no_api,
            ingest=not args.no_ingest,
            worker=WorkerSettings(
                concurrency=args.concurrency,
                per_host=args.per_host,
                lease_s=float(loaded.settings.lease_seconds),
            ),
            reuse_port=args.reuse_port,
            api_processes=args.api_processes,
            config_dir=args.config.resolve(),
            verbose=args.verbose,
        )
        orphaned = asyncio.create_task(watch_parent(stop))
        try:
            await serve(loaded, catalog, Path.cwd(), options, stop)
        except ApiProcessExited:
            return 1  # already logged, with the process and its exit code
        finally:
            orphaned.cancel()
        if orphaned.done() and not orphaned.cancelled() and orphaned.result():
            return 1  # already logged: the process that started this one is gone
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    from camgrid.demo import run_demo

    return await run_demo(args.cameras, args.host, args.port, Path.cwd())


async def cmd_fsck(args: argparse.Namespace) -> int:
    from camgrid.fsck import run_fsck

    loaded = load_or_report(args.config)
    async with opened_catalog(loaded, Path.cwd()) as catalog:
        return await run_fsck(catalog, loaded, Path.cwd(), repair_it=args.repair)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `camgrid` console script."""
    args = build_parser().parse_args(argv)
    setup_logging(verbose=args.verbose)
    try:
        if args.command == "validate":
            return cmd_validate(args)
        handlers = {
            "serve": cmd_serve,
            "demo": cmd_demo,
            "token": cmd_token,
            "fsck": cmd_fsck,
            "db": cmd_db_upgrade,
        }
        return asyncio.run(handlers[args.command](args))
    except CliError as exc:
        print(f"camgrid: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    logging.captureWarnings(True)
    raise SystemExit(main())
