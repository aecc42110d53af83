"""`feeds serve | harvest | check`: the commands an operator runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from feeds.config import Config, ConfigError, Settings, load_config, outbound_from_env
from feeds.harvest import Harvester, user_agent
from feeds.onboarding import NewGroup, append, groups_from_opml
from feeds.store import StoreError, open_store
from feeds.web.run import run_service
from feeds.websub import publishing
from feeds.workers import serve_workers
from sources.base import SourceError
from sources.discover import Discovery, discover
from sources.outbound import Outbound


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="feeds", description=__doc__)
    parser.add_argument(
        "--config", type=Path, help="sites.toml (default: $FEEDS_CONFIG or sites.toml)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve feeds and calendars (and harvest)")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: $PORT or 8080)")
    serve.add_argument("--no-harvest", action="store_true", help="leave harvesting to a worker")
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes serving on the port (default: $WEB_CONCURRENCY or 1); one harvests",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log every request (off by default: a line per poll costs more than the poll)",
    )
    harvest = commands.add_parser("harvest", help="harvest every source once")
    harvest.add_argument("--forever", action="store_true", help="keep harvesting at each interval")
    check = commands.add_parser("check", help="validate the configuration")
    check.add_argument("path", nargs="?", type=Path, help="the file to check")
    discover = commands.add_parser(
        "discover", help="what a group's website offers, as [[sites.sources]] blocks"
    )
    discover.add_argument("url", help="the group's homepage (or its events page)")
    add = commands.add_parser(
        "add", help="add a group to the configuration with what its website offers"
    )
    add.add_argument("slug", help="the group's short name in addresses, such as kaiserslautern")
    add.add_argument("url", help="the group's homepage")
    add.add_argument("--name", help="the group's name (default: the page's title)")
    add.add_argument("--region", help="its federal state, such as Rheinland-Pfalz")
    opml = commands.add_parser("import-opml", help="add a group per feed of an OPML list")
    opml.add_argument("file", type=Path, help="the OPML file (folders become regions)")
    args = parser.parse_args(argv)
    if args.command == "import-opml":
        path = args.config or Path(os.environ.get("FEEDS_CONFIG") or "sites.toml")
        return _import_opml(path, args.file)
    if args.command in ("discover", "add"):  # they need no configuration
        try:
            outbound = outbound_from_env(os.environ)
        except ValueError as exc:
            print(f"feeds: {exc}", file=sys.stderr)
            return 2
    if args.command == "discover":
        return asyncio.run(_discover(args.url, outbound))
    if args.command == "add":
        path = args.config or Path(os.environ.get("FEEDS_CONFIG") or "sites.toml")
        found = asyncio.run(_discovered(args.url, outbound))
        if found is None:
            return 1
        return _add(path, args.slug, found, args.name, args.region)

    logging.basicConfig(
        level=os.environ.get("FEEDS_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env(os.environ)
    except ValueError as exc:
        print(f"feeds: {exc}", file=sys.stderr)
        return 2
    config_path = getattr(args, "path", None) or args.config or settings.config_path
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"feeds: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        sources = sum(len(site.sources) for site in config.network.sites)
        print(f"{config_path}: ok, {len(config.network.sites)} sites, {sources} sources")
        return 0
    try:
        if args.command == "serve":
            workers = args.workers or int(os.environ.get("WEB_CONCURRENCY") or 1)
            if workers > 1:
                return serve_workers(
                    workers,
                    str(config_path),
                    args.host,
                    args.port,
                    harvest=not args.no_harvest,
                    access_log=args.access_log,
                )
            return run_service(
                settings,
                config,
                args.host,
                args.port,
                harvest=not args.no_harvest,
                access_log=args.access_log,
            )
        return asyncio.run(_harvest(settings, config, forever=args.forever))
    except StoreError as exc:
        print(f"feeds: store error: {exc}", file=sys.stderr)
        return 1


async def _harvest(settings: Settings, config: Config, *, forever: bool) -> int:
    store = await open_store(settings.database_url)
    try:
        async with publishing(settings) as publisher:
            harvester = Harvester(
                store,
                config.network,
                config.sources,
                on_change=publisher.changed if publisher else lambda site: None,
                contact_url=settings.base_url,
                outbound=settings.outbound,
                keep=settings.keep,
            )
            return await _run(harvester, forever=forever)
    finally:
        await store.close()


async def _run(harvester: Harvester, *, forever: bool) -> int:
    if forever:
        # Platforms stop a worker with SIGTERM: finish the write under way, close, exit 0.
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        try:
            await harvester.run_forever()
        except asyncio.CancelledError:
            logging.getLogger(__name__).info("harvest worker stopped")
        return 0
    outcomes = await harvester.run_once()
    for outcome in outcomes:
        detail = outcome.error or f"{outcome.new} new, {outcome.changed} changed"
        print(f"{outcome.site}/{outcome.source}: {outcome.status}: {detail}")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


async def _discover(url: str, outbound: Outbound) -> int:
    found = await _discovered(url, outbound)
    if found is None:
        return 1
    print(found.toml(), end="")
    return 0 if found.sources else 1


async def _discovered(url: str, outbound: Outbound) -> Discovery | None:
    async with aiohttp.ClientSession(
        headers={"User-Agent": user_agent(None)},
        timeout=aiohttp.ClientTimeout(total=60),
        connector=outbound.connector(),
    ) as session:
        try:
            return await discover(session, url, outbound)
        except SourceError as exc:
            print(f"feeds: {exc}", file=sys.stderr)
            return None


def _add(path: Path, slug: str, found: Discovery, name: str | None, region: str | None) -> int:
    if not found.sources:
        print(found.toml(), end="", file=sys.stderr)
        return 1
    group = NewGroup(slug, name or found.title or slug, region, found.url, found.toml())
    try:
        append(path, [group])
    except ConfigError as exc:
        print(f"feeds: {slug} not added: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: added {slug} with {', '.join(s.kind for s in found.sources)}")
    return 0


def _import_opml(path: Path, opml: Path) -> int:
    try:
        taken = {site.slug for site in load_config(path).network.sites} if path.exists() else set()
        groups, skipped = groups_from_opml(opml.read_bytes(), taken)
    except (OSError, ValueError, ConfigError) as exc:
        print(f"feeds: {exc}", file=sys.stderr)
        return 2
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    if not groups:
        print(f"feeds: {opml}: no new feeds", file=sys.stderr)
        return 1
    try:
        append(path, groups)
    except ConfigError as exc:
        print(f"feeds: nothing imported: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: added {len(groups)} groups: {', '.join(g.slug for g in groups)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
