"""Settings from the environment, and the network of sites from `sites.toml`.

Errors name the file, the line where it can be found, the key and what was expected,
so a volunteer editing the config can fix it without reading code.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feeds.model import DEFAULT_TIMEZONE, Network, Site, SourceConfig, Taxonomy
from feeds.sanitize import safe_url
from feeds.store.presence import KEEP_POSTS, KEEP_REMOVED, Keep
from feeds.urls import RESERVED_SLUGS
from sources import OptionError, SourceContext, UnknownKindError, build_source
from sources.base import Source
from sources.outbound import Outbound

_MAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\".]+$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_INTERVAL = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
MIN_INTERVAL = timedelta(minutes=1)
# A group's region is its federal state, as the pages and `?region=` offer them; a network
# outside Germany lists its own (`[network] regions = […]`).
LAENDER = (
    "Baden-Württemberg", "Bayern", "Berlin", "Brandenburg", "Bremen", "Hamburg", "Hessen",
    "Mecklenburg-Vorpommern", "Niedersachsen", "Nordrhein-Westfalen", "Rheinland-Pfalz",
    "Saarland", "Sachsen", "Sachsen-Anhalt", "Schleswig-Holstein", "Thüringen",
)  # fmt: skip
# The keys each level of sites.toml may have; a typo is an error, not a silent default.
TABLES = ("network", "alerts", "taxonomy", "sites")
NETWORK_KEYS = ("name", "homepage", "timezone", "regions")
ALERT_KEYS = ("smtp", "from", "office", "after", "webhook")
SITE_KEYS = ("slug", "name", "region", "homepage", "timezone", "geo", "contact", "sources")
ALERT_AFTER = 3  # failed harvests in a row before a group is told
DEFAULT_DATABASE_URL = "sqlite:///feeds.sqlite3"


class ConfigError(ValueError):
    def __init__(self, file: Path, key: str, message: str, line: int | None = None) -> None:
        where = f"{file}:{line}" if line else str(file)
        super().__init__(f"{where}: {key}: {message}")
        self.file, self.key, self.line = file, key, line


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Deployment settings; read from an injected mapping, never a global."""

    config_path: Path = Path("sites.toml")
    database_url: str = DEFAULT_DATABASE_URL
    base_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = None
    # /network/events.ics without `from` starts this many days back: 112 groups' years of
    # events would grow past what phones and Google Calendar take from a subscription.
    network_calendar_days: int = 180
    # …and holds at most this many events, what is to come first (FEEDS_NETWORK_CALENDAR_EVENTS):
    # at any size of network, a calendar a phone takes (about 1 kB each).
    network_calendar_events: int = 1000
    # The network's page lists each group up to this many (FEEDS_PAGE_GROUPS); past it,
    # each state with its number of groups and a page of its own (`/?region=Bayern`).
    page_groups: int = 400
    # A WebSub hub (such as https://pubsubhubbub.appspot.com/): feeds name it, and it is
    # told when a feed changes (that needs `base_url`, the address readers know).
    websub_hub: str | None = None
    # Where the service may connect: public addresses, and these networks (FEEDS_ALLOW_NETWORKS).
    outbound: Outbound = Outbound()
    # Memory for rendered answers, every coding counted: two thirds for renders, one third
    # for the replayed answers (FEEDS_CACHE_MB).
    cache_bytes: int = 192 * 1024 * 1024
    # What the store keeps of each source (FEEDS_KEEP_POSTS, FEEDS_KEEP_REMOVED_DAYS).
    keep: Keep = Keep()
    # Every group, and the network, followable from Mastodon (FEEDS_FEDERATION=on); needs
    # base_url, the address other servers know the service by.
    federation: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        port = environ.get("PORT", "8080")
        if not port.isdigit():
            raise ValueError(f"PORT: expected a port number, got {port!r}")
        base_url = environ.get("FEEDS_BASE_URL") or None
        days = environ.get("FEEDS_NETWORK_CALENDAR_DAYS", "180")
        if not re.fullmatch(r"[0-9]{1,5}", days):  # ASCII digits: "²".isdigit() is True
            raise ValueError(
                f"FEEDS_NETWORK_CALENDAR_DAYS: expected a number of days, got {days!r}"
            )
        most = environ.get("FEEDS_NETWORK_CALENDAR_EVENTS", "1000")
        if not re.fullmatch(r"[0-9]{1,6}", most) or int(most) < 1:
            raise ValueError(
                f"FEEDS_NETWORK_CALENDAR_EVENTS: expected a number of events, got {most!r}"
            )
        federation = environ.get("FEEDS_FEDERATION", "off").strip().lower()
        if federation not in ("on", "off", "true", "false", "1", "0", "yes", "no", ""):
            raise ValueError(f"FEEDS_FEDERATION: expected on or off, got {federation!r}")
        federating = federation in ("on", "true", "1", "yes")
        if federating and not base_url:
            raise ValueError(
                "FEEDS_FEDERATION=on needs FEEDS_BASE_URL: the https:// address other servers"
                " reach this service at (it is in every account's name, @group@host)"
            )
        return cls(
            federation=federating,
            config_path=Path(environ.get("FEEDS_CONFIG") or "sites.toml"),
            database_url=environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            base_url=base_url.rstrip("/") if base_url else None,
            port=int(port),
            admin_token=environ.get("FEEDS_ADMIN_TOKEN") or None,
            network_calendar_days=int(days),
            network_calendar_events=int(most),
            page_groups=_count(environ.get("FEEDS_PAGE_GROUPS", "400"), "FEEDS_PAGE_GROUPS"),
            websub_hub=_hub(environ.get("FEEDS_WEBSUB_HUB")),
            outbound=outbound_from_env(environ),
            cache_bytes=_megabytes(environ.get("FEEDS_CACHE_MB", "192"), "FEEDS_CACHE_MB"),
            keep=Keep(
                posts=_count(environ.get("FEEDS_KEEP_POSTS", str(KEEP_POSTS)), "FEEDS_KEEP_POSTS"),
                removed=timedelta(
                    days=_count(
                        environ.get("FEEDS_KEEP_REMOVED_DAYS", str(KEEP_REMOVED.days)),
                        "FEEDS_KEEP_REMOVED_DAYS",
                    )
                ),
            ),
        )


def _count(value: str, name: str) -> int:
    if not re.fullmatch(r"[0-9]{1,7}", value) or int(value) < 1:
        raise ValueError(f"{name}: expected a whole number, 1 or more, got {value!r}")
    return int(value)


def _megabytes(value: str, name: str) -> int:
    if not re.fullmatch(r"[0-9]{1,6}", value) or int(value) < 16:
        raise ValueError(f"{name}: expected a number of megabytes, 16 or more, got {value!r}")
    return int(value) * 1024 * 1024


def outbound_from_env(environ: Mapping[str, str]) -> Outbound:
    """The outbound policy, allowing the networks in FEEDS_ALLOW_NETWORKS (comma-separated)."""
    try:
        return Outbound.allowing(environ.get("FEEDS_ALLOW_NETWORKS", "").split(","))
    except ValueError as exc:
        raise ValueError(f"FEEDS_ALLOW_NETWORKS: {exc}") from None


def _hub(value: str | None) -> str | None:
    if not value:
        return None
    url = safe_url(value)
    if url is None:
        raise ValueError(f"FEEDS_WEBSUB_HUB: expected an http(s) URL, got {value!r}")
    return url


@dataclass(frozen=True, slots=True)
class Config:
    network: Network
    sources: dict[tuple[str, str], Source]  # adapters keyed by (site, source)
    alerts: Alerts | None = None  # whom to tell when a source breaks ([alerts])


@dataclass(frozen=True, slots=True)
class Alerts:
    """Mail to the people who can fix a broken source (feeds/alerts.py)."""

    smtp: str  # smtp://host:port, or smtps://user:password@host:465
    sender: str  # the From address
    office: tuple[str, ...]  # the network office: copies where a group has no contact
    after: int = ALERT_AFTER  # failed harvests in a row before the group is told
    webhook: str | None = None  # the same alerts, POSTed as JSON (feeds/webhook.py)


def load_config(path: Path, text: str | None = None) -> Config:
    """Read and check `sites.toml` (or `text`, to be written there) and build every
    adapter; raises ConfigError naming `path` and the line."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(path, "file", f"cannot be read ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(path, "file", f"is not UTF-8 text ({exc.reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "syntax", str(exc), _line_of_decode_error(exc)) from None
    reader = _Reader(path, text)
    network = reader.network(data)
    sources = {
        (site.slug, config.name): reader.build(site, site_index, config, source_index)
        for site_index, site in enumerate(network.sites)
        for source_index, config in enumerate(site.sources)
    }
    return Config(network, sources, reader.alerts(data.get("alerts")))


def parse_interval(value: Any) -> timedelta:
    """'15m', '2h', '30s', '1d' or a number of minutes."""
    if isinstance(value, int) and not isinstance(value, bool):
        interval = timedelta(minutes=value)
    elif isinstance(value, str) and (match := _INTERVAL.match(value.strip())):
        interval = timedelta(**{_UNITS[match[2]]: int(match[1])})
    else:
        raise ValueError(f"expected a duration such as '15m', '2h' or '1d', got {value!r}")
    if interval < MIN_INTERVAL:
        raise ValueError(f"must be at least {MIN_INTERVAL}, to spare the upstream site")
    return interval


class _Reader:
    """Turns parsed TOML into a Network, locating errors in the text."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self._header_lines: dict[str, list[int]] = {}
        self.regions: tuple[str, ...] = LAENDER

    def fail(
        self, key: str, message: str, *, table: str, index: int = 0, field: str | None = None
    ) -> ConfigError:
        return ConfigError(self.path, key, message, self._locate(table, index, field))

    def known(
        self, key: str, known: Sequence[str], where: str, line: Callable[[], int | None]
    ) -> None:
        """Refuse a key this level does not have, naming the closest one it does (and its
        line, looked for only then: at 11,200 groups, looking for every key's took hours)."""
        if key in known:
            return
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
        raise ConfigError(self.path, f"{where}{key}", f"unknown key ({hint})", line())

    def network(self, data: dict[str, Any]) -> Network:
        for key in data:
            self.known(key, TABLES, "", partial(self._table_line, key))
        net = data.get("network", {})
        if not isinstance(net, dict):
            raise self.fail("network", "must be a table: [network]", table="network")
        for key in net:
            self.known(key, NETWORK_KEYS, "network.", partial(self._locate, "[network]", 0, key))
        self.regions = self.region_names(net.get("regions"))
        # No group yet is a network being set up (feeds add writes its first one).
        sites_data = data.get("sites", [])
        if not isinstance(sites_data, list):
            raise self.fail("sites", "expected [[sites]] tables", table="sites")
        sites: list[Site] = []
        seen: set[str] = set()
        for index, raw in enumerate(sites_data):
            site = self.site(raw, index)
            if site.slug in seen:
                raise self.fail(
                    f"sites[{index}].slug",
                    f"{site.slug!r} is used twice",
                    table="[[sites]]",
                    index=index,
                    field="slug",
                )
            seen.add(site.slug)
            sites.append(site)
        zone = net.get("timezone", DEFAULT_TIMEZONE)
        self.zone(zone, "network.timezone", table="[network]", index=0)
        given = net.get("homepage")
        homepage = safe_url(given) if isinstance(given, str) else None
        if given is not None and homepage is None:
            raise self.fail(
                "network.homepage",
                f"expected an http(s) address such as https://www.example.org/, got {given!r}",
                table="[network]",
                index=0,
                field="homepage",
            )
        return Network(
            name=str(net.get("name", "Network")),
            homepage=homepage,
            timezone=zone,
            sites=tuple(sites),
            taxonomy=self.taxonomy(data.get("taxonomy")),
        )

    def taxonomy(self, value: Any) -> Taxonomy:
        if value is None:
            return ()
        if not isinstance(value, dict):
            raise self.fail("taxonomy", 'must be a table: [taxonomy], then "Name" = [...]',
                            table="[taxonomy]")  # fmt: skip
        entries = []
        for name, covered in value.items():
            words = [covered] if isinstance(covered, str) else covered
            if (
                not name.strip()
                or not isinstance(words, list)
                or not words
                or not all(isinstance(w, str) and w.strip() for w in words)
            ):
                raise self.fail(
                    f"taxonomy.{name}",
                    "expected the groups' categories it covers, such as"
                    ' "Umwelt & Klima" = ["Klimaschutz", "Umwelt"]',
                    table="[taxonomy]",
                    field=name,
                )
            entries.append((" ".join(name.split()), tuple(" ".join(w.split()) for w in words)))
        return tuple(entries)

    def region_names(self, value: Any) -> tuple[str, ...]:
        if value is None:
            return LAENDER
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v.strip() for v in value)
        ):
            raise self.fail(
                "network.regions", "expected a list of region names, such as"
                ' ["Kanton Bern", "Kanton Zürich"]', table="[network]", field="regions",
            )  # fmt: skip
        return tuple(v.strip() for v in value)

    def region(self, value: str | None, index: int) -> str | None:
        if value is None or value in self.regions:
            return value
        folded = {r.casefold().replace(" ", "-"): r for r in self.regions}
        same = folded.get(value.casefold().replace(" ", "-"))
        close = same or next(iter(difflib.get_close_matches(value, self.regions, n=1)), None)
        hint = f"did you mean {close!r}?" if close else "a federal state, such as 'Bayern'"
        raise self.fail(
            f"sites[{index}].region", f"{value!r} is not a region of the network ({hint})",
            table="[[sites]]", index=index, field="region",
        )  # fmt: skip

    def site(self, raw: dict[str, Any], index: int) -> Site:
        where = f"sites[{index}]"
        for key in raw:
            line = partial(self._locate, "[[sites]]", index, key)
            self.known(key, SITE_KEYS, f"{where}.", line)

        def text(key: str, *, required: bool = False) -> str | None:
            value = raw.get(key)
            if value is None and not required:
                return None
            if not isinstance(value, str) or not value.strip():
                raise self.fail(
                    f"{where}.{key}",
                    "expected a non-empty string",
                    table="[[sites]]",
                    index=index,
                    field=key,
                )
            return value.strip()

        slug = text("slug", required=True)
        assert slug is not None
        if not _SLUG.match(slug) or slug in RESERVED_SLUGS:
            raise self.fail(
                f"{where}.slug",
                f"{slug!r}: expected lowercase letters, digits and '-',"
                f" not one of {sorted(RESERVED_SLUGS)}",
                table="[[sites]]",
                index=index,
                field="slug",
            )
        zone = raw.get("timezone", DEFAULT_TIMEZONE)
        self.zone(zone, f"{where}.timezone", table="[[sites]]", index=index)
        sources_data = raw.get("sources", [])
        if not isinstance(sources_data, list):
            raise self.fail(
                f"{where}.sources",
                "expected [[sites.sources]] tables",
                table="[[sites]]",
                index=index,
            )
        sources = [self.source(s, index, n) for n, s in enumerate(sources_data)]
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise self.fail(
                f"{where}.sources",
                f"source names must differ within a site: {names}",
                table="[[sites]]",
                index=index,
            )
        given = text("homepage")
        homepage = safe_url(given) if given is not None else None
        if given is not None and homepage is None:
            # It reaches every feed, calendar and page as a link: the same scheme allow-list
            # as every address from upstream (no javascript: or data:).
            raise self.fail(
                f"{where}.homepage",
                f"expected an http(s) address such as https://www.example.org/, got {given!r}",
                table="[[sites]]",
                index=index,
                field="homepage",
            )
        return Site(
            slug=slug,
            name=text("name", required=True) or slug,
            region=self.region(text("region"), index),
            homepage=homepage,
            timezone=zone,
            sources=tuple(sources),
            geo=self.geo(raw.get("geo"), index),
            contact=self.addresses(raw.get("contact"), f"{where}.contact", "[[sites]]", index),
        )

    def addresses(self, value: Any, key: str, table: str, index: int) -> tuple[str, ...]:
        """One mail address or a list of them; each checked as a mail server would."""
        if value is None:
            return ()
        given = [value] if isinstance(value, str) else value
        field = key.rpartition(".")[2]
        if not isinstance(given, list) or not given:
            raise self.fail(key, "expected a mail address or a list of them", table=table,
                            index=index, field=field)  # fmt: skip
        for address in given:
            if not isinstance(address, str) or not _MAIL.match(address.strip()):
                raise self.fail(key, f"{address!r} is not a mail address (name@example.org)",
                                table=table, index=index, field=field)  # fmt: skip
        return tuple(address.strip() for address in given)

    def alerts(self, raw: Any) -> Alerts | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise self.fail("alerts", "must be a table: [alerts]", table="[alerts]")
        for key in raw:
            self.known(key, ALERT_KEYS, "alerts.", partial(self._locate, "[alerts]", 0, key))
        smtp = raw.get("smtp")
        if not isinstance(smtp, str) or urlsplit(smtp).scheme not in ("smtp", "smtps"):
            raise self.fail(
                "alerts.smtp",
                f"expected smtp://host:port or smtps://user:password@host:465, got {smtp!r}",
                table="[alerts]",
                field="smtp",
            )
        [sender] = self.addresses(raw.get("from"), "alerts.from", "[alerts]", 0) or [""]
        if not sender:
            raise self.fail("alerts.from", "the address mails come from is required",
                            table="[alerts]", field="from")  # fmt: skip
        office = self.addresses(raw.get("office"), "alerts.office", "[alerts]", 0)
        after = raw.get("after", ALERT_AFTER)
        if not isinstance(after, int) or isinstance(after, bool) or not 1 <= after <= 100:
            raise self.fail(
                "alerts.after",
                f"expected a number of failed harvests from 1 to 100, got {after!r}",
                table="[alerts]",
                field="after",
            )
        webhook = raw.get("webhook")
        if webhook is not None and (
            not isinstance(webhook, str) or urlsplit(webhook).scheme not in ("http", "https")
        ):
            raise self.fail(
                "alerts.webhook",
                f"expected the webhook's https:// address, got {webhook!r}",
                table="[alerts]",
                field="webhook",
            )
        return Alerts(smtp, sender, office, after, webhook)

    def geo(self, value: Any, index: int) -> tuple[float, float] | None:
        if value is None:
            return None
        numbers = value if isinstance(value, list) else []
        good = len(numbers) == 2 and all(
            isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n)
            for n in numbers
        )
        if not good or not (-90 <= numbers[0] <= 90 and -180 <= numbers[1] <= 180):
            raise self.fail(
                f"sites[{index}].geo",
                f"expected [latitude, longitude] in degrees, such as [49.44, 7.77]; got {value!r}",
                table="[[sites]]",
                index=index,
                field="geo",
            )
        return float(numbers[0]), float(numbers[1])

    def source(self, raw: dict[str, Any], site_index: int, index: int) -> SourceConfig:
        where = f"sites[{site_index}].sources[{index}]"
        line_index = self._nth_source(site_index, index)
        options = dict(raw)
        name = options.pop("name", None)
        kind = options.pop("kind", None)
        for key, value in (("name", name), ("kind", kind)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(
                    self.path,
                    f"{where}.{key}",
                    "expected a non-empty string",
                    self._field_line(line_index, key),
                )
        interval = timedelta(minutes=15)
        if "interval" in options:
            try:
                interval = parse_interval(options.pop("interval"))
            except ValueError as exc:
                raise ConfigError(
                    self.path,
                    f"{where}.interval",
                    str(exc),
                    self._field_line(line_index, "interval"),
                ) from None
        assert isinstance(name, str)
        assert isinstance(kind, str)
        return SourceConfig(
            name=name, kind=kind, interval=interval, options=tuple(sorted(options.items()))
        )

    def build(self, site: Site, site_index: int, config: SourceConfig, index: int) -> Source:
        context = SourceContext(
            site=site.slug,
            source=config.name,
            timezone=site.timezone,
            homepage=site.homepage,
            config_dir=self.path.parent,
        )
        where = f"sites[{site_index}].sources[{index}]"
        header = self._nth_source(site_index, index)
        try:
            return build_source(config.kind, context, config.options_dict)
        except UnknownKindError as exc:
            raise ConfigError(
                self.path, f"{where}.kind", str(exc), self._field_line(header, "kind")
            ) from None
        except OptionError as exc:
            message = str(exc).split(": ", 1)[1]
            raise ConfigError(
                self.path, f"{where}.{exc.key}", message, self._field_line(header, exc.key)
            ) from None

    def zone(self, value: Any, key: str, *, table: str, index: int) -> None:
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(
                key,
                f"unknown time zone {value!r} (expected e.g. 'Europe/Berlin')",
                table=table,
                index=index,
                field="timezone",
            ) from None

    # Locating: tomllib gives no positions for values, so find the n-th table header
    # and the key's line inside it. Good enough to point a person at the right place.
    def _table_line(self, name: str) -> int | None:
        for n, line in enumerate(self.lines):
            if re.match(rf"^\s*\[+\s*{re.escape(name)}\b", line) or re.match(
                rf"^\s*{re.escape(name)}\s*=", line
            ):
                return n + 1
        return None

    def _headers(self, header: str) -> list[int]:
        """The lines of a table header, found once per file (a group's errors ask again)."""
        found = self._header_lines.get(header)
        if found is None:
            found = self._header_lines[header] = [
                n for n, line in enumerate(self.lines) if line.strip() == header
            ]
        return found

    def _locate(self, table: str, index: int, field: str | None) -> int | None:
        headers = self._headers(table)
        if index >= len(headers):
            return None
        return self._field_line(headers[index], field) if field else headers[index] + 1

    def _nth_source(self, site_index: int, index: int) -> int | None:
        sites = [*self._headers("[[sites]]"), len(self.lines)]
        if site_index + 1 >= len(sites):
            return None
        inside = [
            n
            for n in self._headers("[[sites.sources]]")
            if sites[site_index] < n < sites[site_index + 1]
        ]
        return inside[index] if index < len(inside) else None

    def _field_line(self, header: int | None, field: str) -> int | None:
        if header is None:
            return None
        if "." in field:  # a key in a sub-table: [sites.sources.posts] then title = …
            table, _, field = field.rpartition(".")
            wanted = f"[sites.sources.{table}]"
            for n in range(header + 1, len(self.lines)):
                stripped = self.lines[n].strip()
                if stripped.startswith("[[") and n > header:
                    break
                if stripped == wanted:
                    header = n
                    break
        for n in range(header + 1, len(self.lines)):
            stripped = self.lines[n].strip()
            if stripped.startswith("["):
                break
            if re.match(rf"^{re.escape(field)}\s*=", stripped):
                return n + 1
        return header + 1


def _line_of_decode_error(exc: tomllib.TOMLDecodeError) -> int | None:
    match = re.search(r"line (\d+)", str(exc))
    return int(match[1]) if match else None
