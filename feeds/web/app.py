"""The aiohttp application: what it holds, what runs beside it, its routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from feeds import urls
from feeds.alerts import Alerter
from feeds.config import Config, Settings
from feeds.config_watch import ConfigWatcher
from feeds.federation.service import federation
from feeds.harvest import Harvester, user_agent, worker_name
from feeds.render.pages import load_templates
from feeds.store import open_store
from feeds.web import (
    assets,
    calendars,
    fediverse,
    operations,
    pages,
    programme,
    syndication,
    widget,
)
from feeds.web.app_keys import (
    Background,
    Configured,
    background_key,
    configured_key,
    federation_key,
    guard_key,
    harvester_key,
    settings_key,
    store_key,
)
from feeds.web.boundary import boundary
from feeds.web.cache import Answers, answers_key
from feeds.web.front import install_front
from feeds.web.guard import TokenGuard
from feeds.web.render_pool import RenderPool, pool_ctx
from feeds.web.shared import SharedRenders, network_digest
from feeds.websub import publishing

log = logging.getLogger(__name__)

REVISION_POLL_SECONDS = 2.0
COUNTS_FLUSH_SECONDS = 5.0  # replayed requests reach /metrics at most this late


def create_app(
    settings: Settings,
    config: Config,
    *,
    harvest: bool = True,
    revision_poll: float = REVISION_POLL_SECONDS,
    freeze_heap: bool = False,
    watch: Path | None = None,
) -> web.Application:
    """The service; with `harvest`, the sources are harvested in this process too.

    Either way the store's revision is followed (PostgreSQL NOTIFY, or polling SQLite
    every `revision_poll` seconds) to notice what other processes write. `freeze_heap`
    is for a process that serves only this app (`feeds serve`): see _freeze_heap. With
    `watch` (the configuration's file), its changes are in force within seconds, and at
    once on SIGHUP (feeds/config_watch.py).
    """
    app = web.Application(middlewares=[boundary])
    app[settings_key] = settings
    configured = app[configured_key] = Configured(config)
    # One budget for rendered answers (every coding counted), renders and replays.
    pool = RenderPool()
    answers = app[answers_key] = Answers(settings.cache_bytes, pool)
    app[guard_key] = TokenGuard()

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        store = await open_store(settings.database_url, offload=pool.run)
        app[store_key] = store
        answers.revision.bump(await store.revision())
        if settings.base_url:  # else a Host header could make a view to share (shared.py)
            answers.renders.shared = SharedRenders(store)
            answers.renders.shared.configuration = network_digest(configured.network)
        yield
        await store.close()

    async def harvest_ctx(app: web.Application) -> AsyncIterator[None]:
        revision = answers.revision
        async with publishing(settings) as publisher:
            # Built either way: POST /admin/harvest uses it even when a worker harvests.
            alerter = Alerter(
                app[store_key],
                lambda: configured.config,
                worker=worker_name(),
                status_url=urls.Urls(settings.base_url).status() if settings.base_url else None,
            )
            fed = None
            if settings.federation and settings.base_url:
                fed = app[federation_key] = federation(
                    app[store_key], lambda: configured.network, settings.base_url,
                    settings.outbound, user_agent(settings.base_url), worker_name(),
                )  # fmt: skip

            def harvested() -> None:  # what changed is told at once, not at the next round
                alerter.wake()
                if fed is not None:
                    fed.deliverer.wake()

            harvester = app[harvester_key] = Harvester(
                app[store_key],
                config.network,
                config.sources,
                on_revision=revision.bump,
                on_change=publisher.changed if publisher else lambda site: None,
                on_harvested=harvested,
                contact_url=settings.base_url,
                outbound=settings.outbound,
                keep=settings.keep,
            )
            # Another process may write the store too (a worker, `feeds harvest`, another
            # instance): every process follows its revision, harvesting or not.
            follow = asyncio.create_task(
                revision.follow(app[store_key], revision_poll), name="revision"
            )
            task = (
                asyncio.create_task(harvester.run_forever(), name="harvest") if harvest else follow
            )
            # Whoever harvests tells of broken sources (each mail once, however many do).
            alerting = asyncio.create_task(alerter.run(), name="alerts") if harvest else follow
            background = {task, follow, alerting}
            if fed is not None and harvest:  # and delivers to the fediverse (each once)
                background.add(asyncio.create_task(fed.deliverer.run(), name="deliveries"))
            for running in background:
                running.add_done_callback(_report_end)
            app[background_key] = Background(task, harvesting=harvest)
            yield
            for running in background:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            if fed is not None:
                await fed.remote.close()

    async def templates_ctx(app: web.Application) -> AsyncIterator[None]:
        await asyncio.to_thread(load_templates)
        yield

    async def counts_ctx(app: web.Application) -> AsyncIterator[None]:
        async def flush() -> None:
            while True:
                await asyncio.sleep(COUNTS_FLUSH_SECONDS)
                answers.replays.flush_counts()

        task = asyncio.create_task(flush(), name="metrics")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        answers.replays.flush_counts()

    async def watch_ctx(app: web.Application) -> AsyncIterator[None]:
        if watch is None:
            yield
            return

        def apply(new: Config) -> None:
            configured.use(new)
            app[harvester_key].apply(new.network, new.sources)
            answers.revision.reconfigured()  # pages and feeds that list groups change
            if answers.renders.shared is not None:
                answers.renders.shared.configuration = network_digest(new.network)

        watcher = ConfigWatcher(watch, apply, config)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, watcher.look_now)
        task = asyncio.create_task(watcher.run(), name="configuration")
        task.add_done_callback(_report_end)
        yield
        loop.remove_signal_handler(signal.SIGHUP)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.extend(
        [pool_ctx(pool), templates_ctx, store_ctx, harvest_ctx, watch_ctx, counts_ctx]
    )
    if freeze_heap:
        app.on_startup.append(_freeze_heap)  # after the contexts above have started
    # Fixed paths before /{site}, which would match /status or /embed.
    for resource in (
        operations, fediverse, assets, widget, syndication, calendars, programme, pages,
    ):  # fmt: skip
        app.add_routes(resource.routes)
    install_front(app)
    return app


async def _freeze_heap(app: web.Application) -> None:
    # What startup built (modules, templates, the configuration, pools) lives as long as
    # the process: out of the collector's way, a full collection no longer walks it
    # while requests wait (service-vs-bare on /network/events.ics: 0.90x of bare aiohttp
    # without, 0.99x with, over six alternating runs each on this noisy VM).
    gc.collect()
    gc.freeze()


def _report_end(task: asyncio.Task[None]) -> None:
    # It should run until shutdown; if it ends before, say so now, not at exit.
    if not task.cancelled() and task.exception() is not None:
        log.error("the %s task ended", task.get_name(), exc_info=task.exception())
