"""The commands a network office runs: serve feeds and calendars, harvest, and keep the
list of groups (sites.toml) by adding, listing, checking and removing them."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

from feeds import moderation, urls
from feeds.alerts import Alerter
from feeds.config import Config, ConfigError, Settings, load_config, outbound_from_env
from feeds.config_watch import ConfigWatcher
from feeds.federation import NETWORK_ACTOR
from feeds.federation.keys import rotate
from feeds.federation.service import federation
from feeds.harvest import Harvester, user_agent, worker_name
from feeds.model import DEFAULT_TIMEZONE, Event, Network, Post
from feeds.onboarding import (
    SETTABLE,
    NewGroup,
    already_there,
    append,
    groups_from_opml,
    listing,
    remove,
    settle,
    short_slug,
)
from feeds.store import ItemQuery, SourceState, StoreError, open_store
from feeds.taxonomy import unmapped
from feeds.urls import RESERVED_SLUGS
from feeds.web.run import run_service
from feeds.websub import publishing
from feeds.workers import serve_workers
from sources.base import SourceError
from sources.discover import Discovery, discover, download
from sources.outbound import Outbound


def main(argv: Sequence[str] | None = None) -> int:
    # --config is understood before the command and after it ("feeds list --config x").
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="sites.toml (default: $FEEDS_CONFIG or sites.toml)",
    )
    parser = argparse.ArgumentParser(prog="feeds", description=__doc__, parents=[common])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=summary, parents=[common])

    serve = command("serve", "serve feeds, calendars and pages (and harvest)")
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
    harvest = command("harvest", "harvest every source once (or keep harvesting)")
    harvest.add_argument("--forever", action="store_true", help="keep harvesting at each interval")
    check = command("check", "check the configuration, naming the line of each mistake")
    check.add_argument("path", nargs="?", type=Path, help="the file to check")
    command("list", "list the groups, their sources and how their last harvest went")
    discover = command("discover", "show what a group's website offers, as [[sites.sources]]")
    discover.add_argument(
        "url", help="the group's homepage, events page, feed or calendar (https:// may be left out)"
    )
    add = command("add", "add a group with what its website offers")
    add.add_argument(
        "where",
        nargs="+",
        metavar="URL",
        help="the group's homepage, feed or calendar (the older form SLUG URL works too)",
    )
    add.add_argument("--slug", help="its short name in addresses (default: from its name)")
    add.add_argument("--name", help="the group's name (default: the name its website gives)")
    add.add_argument("--region", help="its federal state, such as Rheinland-Pfalz")
    add.add_argument(
        "--contact", help="who is told when its website breaks (name@example.org, several: a, b)"
    )
    opml = command("import-opml", "add a group for each feed of an OPML list")
    opml.add_argument("source", help="the OPML file or its address (folders become regions)")
    remove = command("remove", "take a group out of the configuration")
    remove.add_argument("slug", help="the group's short name, as feeds list shows it")
    set_ = command("set", "change a group's name, region, homepage, contact or time zone")
    set_.add_argument("slug", help="the group's short name, as feeds list shows it")
    set_.add_argument("key", choices=SETTABLE, help="what to change")
    set_.add_argument("value", help='the new value ("" takes it out; contacts: a@x.de, b@y.de)')
    hide = command("hide", "take one post or event out of every feed, calendar and page")
    hide.add_argument(
        "item", help="its page here, its id (urn:uuid:…) or its address on the group's website"
    )
    hide.add_argument("--reason", help="why, for the office's records (not shown publicly)")
    unhide = command("unhide", "show a hidden post or event again")
    unhide.add_argument("item", help="as given to hide, or its id as feeds hidden shows it")
    command("hidden", "list the posts and events hidden from every output")
    rotate = command("rotate-key", "give a group's fediverse account (or the network's) a new key")
    rotate.add_argument("account", help="the group's short name, or network")
    args = parser.parse_args(argv)
    path = getattr(args, "config", None) or Path(os.environ.get("FEEDS_CONFIG") or "sites.toml")
    if args.command == "remove":
        return _remove(path, args.slug)
    if args.command == "set":
        return _set(path, args.slug, args.key, args.value)
    if args.command == "list":
        return asyncio.run(_list(path))
    if args.command == "rotate-key":
        return asyncio.run(_rotate_key(path, args.account))
    if args.command in ("hide", "unhide", "hidden"):
        return asyncio.run(_moderate(args.command, getattr(args, "item", ""), args))
    if args.command in ("discover", "add", "import-opml"):  # they need no configuration
        try:
            outbound = outbound_from_env(os.environ)
        except ValueError as exc:
            print(f"feeds: {exc}", file=sys.stderr)
            return 2
    if args.command == "import-opml":
        return asyncio.run(_import_opml(path, args.source, outbound))
    if args.command == "discover":
        return asyncio.run(_discover(args.url, outbound))
    if args.command == "add":
        if len(args.where) > 2:
            parser.error("add takes one address (or a slug and an address)")
        slug = args.slug or (args.where[0] if len(args.where) == 2 else None)
        found = asyncio.run(_discovered(args.where[-1], outbound))
        if found is None:
            return 1
        contact = tuple(c.strip() for c in (args.contact or "").split(",") if c.strip())
        return _add(path, slug, found, args.name, args.region, contact)

    logging.basicConfig(
        level=os.environ.get("FEEDS_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env(os.environ)
    except ValueError as exc:
        print(f"feeds: {exc}", file=sys.stderr)
        return 2
    config_path = getattr(args, "path", None) or getattr(args, "config", None)
    config_path = config_path or settings.config_path
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"feeds: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        sources = sum(len(site.sources) for site in config.network.sites)
        print(f"{config_path}: ok, {len(config.network.sites)} sites, {sources} sources")
        if config.network.taxonomy:
            asyncio.run(_unmapped(settings, config.network))
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
                config_path=config_path,
            )
        return asyncio.run(_harvest(settings, config, config_path, forever=args.forever))
    except StoreError as exc:
        print(f"feeds: store error: {exc}", file=sys.stderr)
        return 1


async def _harvest(settings: Settings, config: Config, path: Path, *, forever: bool) -> int:
    store = await open_store(settings.database_url)
    fed = None
    try:
        async with publishing(settings) as publisher:
            status = urls.Urls(settings.base_url).status() if settings.base_url else None
            alerter = Alerter(store, lambda: watcher.current, worker=worker_name(),
                              status_url=status)  # fmt: skip
            harvester = Harvester(
                store,
                config.network,
                config.sources,
                on_change=publisher.changed if publisher else lambda site: None,
                on_harvested=alerter.wake,
                contact_url=settings.base_url,
                outbound=settings.outbound,
                keep=settings.keep,
            )
            watcher = ConfigWatcher(
                path, lambda new: harvester.apply(new.network, new.sources), config
            )
            if settings.federation and settings.base_url:
                fed = federation(store, lambda: watcher.current.network, settings.base_url,
                                 settings.outbound, user_agent(settings.base_url),
                                 worker_name())  # fmt: skip
            if not forever:
                outcome = await _run(harvester, forever=False)
                await alerter.round(datetime.now(UTC))  # a cron job tells as a worker does
                if fed is not None:  # and delivers what is due
                    await fed.deliverer.round()
                return outcome
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, watcher.look_now)
            background = [
                asyncio.create_task(watcher.run(), name="configuration"),
                asyncio.create_task(alerter.run(), name="alerts"),
            ]
            if fed is not None:
                background.append(asyncio.create_task(fed.deliverer.run(), name="deliveries"))
            try:
                return await _run(harvester, forever=True)
            finally:
                for task in background:
                    task.cancel()
    finally:
        if fed is not None:
            await fed.remote.close()
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
    async with _session(outbound) as session:
        try:
            return await discover(session, url, outbound)
        except SourceError as exc:
            print(f"feeds: {exc}", file=sys.stderr)
            return None


def _session(outbound: Outbound) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        headers={"User-Agent": user_agent(None)},
        timeout=aiohttp.ClientTimeout(total=60),
        connector=outbound.connector(),
    )


def _network(path: Path) -> Network | None:
    """The groups configured so far (None: no file yet); raises ConfigError."""
    return load_config(path).network if path.exists() else None


def _add(
    path: Path,
    slug: str | None,
    found: Discovery,
    name: str | None,
    region: str | None,
    contact: tuple[str, ...] = (),
) -> int:
    if not found.sources:
        print(found.toml(), end="", file=sys.stderr)
        return 1
    try:
        network = _network(path)
    except ConfigError as exc:
        print(f"feeds: {exc}", file=sys.stderr)
        return 2
    name = name or found.title or slug or found.url
    sites = network.sites if network is not None else ()
    why = already_there(Network(name="", sites=sites), name, [s.url for s in found.sources])
    if why is not None:
        print(f"feeds: {name} not added: {why}", file=sys.stderr)
        return 1
    slug = slug or short_slug(name, {site.slug for site in sites} | set(RESERVED_SLUGS))
    group = NewGroup(slug, name, region, found.url, found.toml(), contact=contact)
    try:
        append(path, [group])
    except ConfigError as exc:
        print(f"feeds: {slug} not added: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: added {slug} ({name}) with {', '.join(s.kind for s in found.sources)}")
    return 0


async def _import_opml(path: Path, source: str, outbound: Outbound) -> int:
    try:
        if source.startswith(("http://", "https://")):
            async with _session(outbound) as session:
                body = await download(session, source)
        else:
            body = await asyncio.to_thread(Path(source).read_bytes)
        groups, skipped = groups_from_opml(body, _network(path))
    except SourceError as exc:
        print(f"feeds: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"feeds: {source}: cannot be read ({exc.strerror})", file=sys.stderr)
        return 2
    except (ValueError, ConfigError) as exc:
        print(f"feeds: {exc}", file=sys.stderr)
        return 2
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    if not groups:
        print(f"feeds: {source}: no new feeds", file=sys.stderr)
        return 1
    try:
        append(path, groups)
    except ConfigError as exc:
        print(f"feeds: nothing imported: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: added {len(groups)} groups: {', '.join(g.slug for g in groups)}")
    return 0


def _remove(path: Path, slug: str) -> int:
    try:
        name = remove(path, slug)
    except ConfigError as exc:
        print(f"feeds: {slug} not removed: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"feeds: {path}: cannot be read ({exc.strerror})", file=sys.stderr)
        return 2
    print(f"{path}: removed {slug} ({name}); what was harvested of it stays in the store")
    return 0


def _set(path: Path, slug: str, key: str, value: str) -> int:
    try:
        before = settle(path, slug, key, value)
    except ConfigError as exc:
        print(f"feeds: {slug} not changed: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"feeds: {path}: cannot be read ({exc.strerror})", file=sys.stderr)
        return 2
    was = f" (was: {before})" if before is not None else ""
    now = f"{key} = {value.strip()}" if value.strip() else f"{key} taken out"
    print(f"{path}: {slug}: {now}{was}")
    return 0


async def _list(path: Path) -> int:
    try:
        config = load_config(path)
        settings = Settings.from_env(os.environ)
    except (ConfigError, ValueError) as exc:
        print(f"feeds: {exc}", file=sys.stderr)
        return 2
    states: dict[tuple[str, str], SourceState] = {}
    try:
        store = await open_store(settings.database_url)
        try:
            states = {(s.site, s.source): s for s in await store.source_states()}
        finally:
            await store.close()
    except StoreError as exc:
        print(f"(no harvest to report: {exc})", file=sys.stderr)
    for line in listing(config.network, states):
        print(line)
    return 0


async def _unmapped(settings: Settings, network: Network) -> None:
    """The groups' categories no [taxonomy] entry covers, from what was harvested."""
    try:
        store = await open_store(settings.database_url)
    except StoreError as exc:
        print(f"(categories not checked: {exc})", file=sys.stderr)
        return
    try:
        used: dict[str, set[str]] = {}
        items: list[Post | Event] = [s.item for s in await store.posts(ItemQuery())]
        items += [s.item for s in await store.events(ItemQuery())]
        for item in items:
            for category in item.categories:
                used.setdefault(category, set()).add(item.site)
    finally:
        await store.close()
    left = unmapped(network.taxonomy, used)
    if left:
        print(f"categories no [taxonomy] entry covers ({len(left)}):")
        for category in left:
            print(f"  {category} ({', '.join(sorted(used[category]))})")


async def _rotate_key(path: Path, account: str) -> int:
    try:
        network = load_config(path).network
        settings = Settings.from_env(os.environ)
    except (ConfigError, ValueError) as exc:
        print(f"feeds: {exc}", file=sys.stderr)
        return 2
    if account != NETWORK_ACTOR and network.site(account) is None:
        print(f"feeds: there is no account {account!r} (a group's slug, or network)",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        store = await open_store(settings.database_url)
        try:
            await rotate(store, account, datetime.now(UTC))
        finally:
            await store.close()
    except StoreError as exc:
        print(f"feeds: store error: {exc}", file=sys.stderr)
        return 1
    # The key itself is never printed, nor logged.
    print(
        f"{account}: new key. Every process signs with it within a minute; other servers"
        " fetch it the next time a signature does not match the key they kept."
    )
    return 0


async def _moderate(command: str, what: str, args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env(os.environ)
        store = await open_store(settings.database_url)
    except (ValueError, StoreError) as exc:
        print(f"feeds: {exc}", file=sys.stderr)
        return 2
    now, zone = datetime.now(UTC), ZoneInfo(DEFAULT_TIMEZONE)
    try:
        if command == "hidden":
            for hidden in await store.hidden():
                since = f"{hidden.since.astimezone(zone):%Y-%m-%d %H:%M}" if hidden.since else ""
                reason = f": {hidden.reason}" if hidden.reason else ""
                print(f"{since} {moderation.describe(hidden)}{reason}")
            return 0
        if command == "hide":
            outcome = await moderation.hide(store, what, args.reason, now)
        else:
            outcome = await moderation.unhide(store, what, now)
    except moderation.NotFoundError:
        where = "among the hidden items" if command == "unhide" else "in the store"
        print(
            f"feeds: nothing {where} is {what}: give the address of its page here or on the"
            " group's website, or its id (feeds hidden lists what is hidden)",
            file=sys.stderr,
        )
        return 1
    except StoreError as exc:
        print(f"feeds: store error: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    for hidden in outcome.already:
        print(f"hidden already: {moderation.describe(hidden)}")
    verb = "hidden" if command == "hide" else "shown again"
    for hidden in outcome.done:
        print(f"{verb}: {moderation.describe(hidden)}")
    if outcome.done and command == "hide":
        print("It leaves every feed, calendar and page within seconds; its page answers 410.")
    elif outcome.done:
        print("It is back in every feed, calendar and page within seconds.")
    if outcome.done:
        # Readers subscribed through the hub hear of it as of a harvest's change.
        async with publishing(settings, delay=0) as publisher:
            for site in {h.site for h in outcome.done}:
                if publisher:
                    publisher.changed(site)
    return 0


if __name__ == "__main__":
    sys.exit(main())
