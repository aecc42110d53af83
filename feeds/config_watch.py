"""Following sites.toml while the service runs: a group the office adds is served, one it
removes is gone and a changed interval is in force, without a restart and without
dropping a request.

The file is looked at every few seconds (its size and modification time; its text only
when they moved) and at once on SIGHUP. A new text is used only if the whole
configuration loads; one that does not is logged once, in words, and the running
configuration is kept. What changed is said in the log: the groups added, removed and
changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from feeds.config import Config, ConfigError, load_config
from feeds.model import Network

log = logging.getLogger(__name__)

EVERY_SECONDS = 5.0  # how often the file is looked at: changes are in force within this


class ConfigWatcher:
    def __init__(
        self,
        path: Path,
        apply: Callable[[Config], None],
        loaded: Config,
        *,
        every: float = EVERY_SECONDS,
    ) -> None:
        self.path = path
        self.apply = apply  # called with each new configuration that loads
        self.every = every
        self.current = loaded
        self._stat = _stat(path)
        self._digest = _digest(path)  # of the text last read, whether it loaded or not
        self._wake = asyncio.Event()

    def look_now(self) -> None:
        """Look at the file at once (SIGHUP), whether or not it seems to have moved."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every)
            forced = self._wake.is_set()
            self._wake.clear()
            try:
                await self.check(forced=forced)
            except Exception:  # a bug here must not end serving or harvesting
                log.exception("cannot look at %s for changes", self.path)

    async def check(self, *, forced: bool = False) -> bool:
        """Read the file if it moved; apply it if it changed and loads. Whether applied."""
        stat = _stat(self.path)
        if stat == self._stat and not forced:
            return False
        self._stat = stat
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            log.error("%s cannot be read (%s): still serving the configuration as it was",
                      self.path, exc)  # fmt: skip
            return False
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest == self._digest:
            return False  # touched, or a broken text already reported
        self._digest = digest
        try:
            config = await asyncio.to_thread(load_config, self.path, text)
        except ConfigError as exc:
            log.error("%s changed but does not load, so the configuration as it was stays"
                      " in force: %s", self.path, exc)  # fmt: skip
            return False
        log.info("%s changed: %s", self.path, describe(self.current.network, config.network))
        self.current = config
        self.apply(config)
        return True


def describe(before: Network, after: Network) -> str:
    """What changed between two configurations, for the log."""
    old = {site.slug: site for site in before.sites}
    new = {site.slug: site for site in after.sites}
    parts = []
    if added := [slug for slug in new if slug not in old]:
        parts.append(f"added {', '.join(added)}")
    if removed := [slug for slug in old if slug not in new]:
        parts.append(f"removed {', '.join(removed)}")
    if changed := [slug for slug in new if slug in old and new[slug] != old[slug]]:
        parts.append(f"changed {', '.join(changed)}")
    if before.name != after.name or before.homepage != after.homepage:
        parts.append("the network's own settings changed")
    return "; ".join(parts) or "nothing that changes what is served"


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
