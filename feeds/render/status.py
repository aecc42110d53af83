"""The status page: every source, what happened last, and when it runs next; for people
(German, in words, the technical line folded away) and for programs (JSON)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRow:
    site: str
    site_name: str
    source: str
    kind: str
    interval_seconds: int
    health: str  # "ok", "failing", "gone" or "waiting" (never harvested yet)
    last_attempt: datetime | None
    last_success: datetime | None
    last_error: str | None
    http_status: int | None
    failures: int
    items: int
    upstream_items: int | None
    next_run: datetime | None
    moved_to: str | None
    skipped: tuple[str, ...] = ()  # items the last read left out, each with its reason
    warnings: tuple[str, ...] = ()  # flaws the last read worked around
    failing_since: datetime | None = None  # when its latest run of failures began
    problem: str | None = None  # what is wrong, in German words (feeds/alerts.py explain)
    check: str | None = None  # what the group can check
    alert: str | None = None  # who was told, or when they will be
    quiet_since: datetime | None = None  # answers, but went still: its newest item's date
    usual_gap_days: float | None = None  # what it usually leaves between two items


KINDS = {
    "feed": "Feed",
    "ical": "Kalender",
    "tribe_events": "Termine (The Events Calendar)",
    "wordpress": "Beiträge (WordPress)",
    "html": "Webseite",
    "jsonld": "Webseite (schema.org)",
    "files": "Dateien",
}
STATES = {
    "ok": "in Ordnung",
    "failing": "kann nicht gelesen werden",
    "gone": "gibt es nicht mehr",
    "waiting": "noch nicht gelesen",
}


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """One source as the status page shows it to a volunteer."""

    group: str
    group_url: str
    source: str
    kind: str
    health: str
    state: str
    facts: tuple[str, ...]
    problem: str | None
    check: str | None
    alert: str | None
    moved_to: str | None
    technical: str | None  # the harvest's own words, folded away
    skipped: tuple[str, ...]
    warnings: tuple[str, ...]
    still: bool = False  # answers, but nothing new for far longer than usual


@dataclass(frozen=True, slots=True)
class StatusView:
    generated: str
    total: int
    groups: int
    troubled: tuple[StatusEntry, ...]  # failing or gone, first
    fine: tuple[StatusEntry, ...]
    json_url: str


def status_view(
    rows: list[SourceRow], now: datetime, zone: ZoneInfo, group_url: Callable[[str], str],
    json_url: str,
) -> StatusView:  # fmt: skip
    def when(value: datetime) -> str:
        return format_datetime(value, "d. MMMM y, HH:mm 'Uhr'", tzinfo=zone, locale="de_DE")

    def facts(row: SourceRow) -> tuple[str, ...]:
        lines = []
        if row.health in ("failing", "gone") and row.failing_since is not None:
            times = "einmal" if row.failures == 1 else f"{row.failures}-mal nacheinander"
            lines.append(f"Seit {when(row.failing_since)} fehlgeschlagen ({times})")
        if row.last_success is not None:
            lines.append(f"Zuletzt gelesen: {when(row.last_success)}")
        elif row.last_attempt is not None:
            lines.append("Noch nie gelesen")
        if row.health == "ok":
            lines.append("1 Eintrag" if row.items == 1 else f"{row.items} Einträge")
        if row.quiet_since is not None:
            usual = row.usual_gap_days
            rhythm = f" (sonst etwa alle {usual:.0f} Tage)" if usual and usual >= 2 else ""
            day = format_datetime(row.quiet_since, "d. MMMM y", tzinfo=zone, locale="de_DE")
            lines.append(f"Still: seit {day} nichts Neues{rhythm}")
        if row.next_run is not None:
            label = "Nächster Versuch" if row.failures else "Nächster Abruf"
            lines.append(f"{label}: {when(row.next_run)}")
        return tuple(lines)

    entries = [
        StatusEntry(
            group=row.site_name,
            group_url=group_url(row.site),
            source=row.source,
            kind=KINDS.get(row.kind, row.kind),
            health=row.health,
            state=STATES[row.health],
            facts=facts(row),
            problem=row.problem if row.health in ("failing", "gone") else None,
            check=row.check if row.health in ("failing", "gone") else None,
            alert=row.alert,
            moved_to=row.moved_to,
            technical=_technical(row),
            skipped=row.skipped,
            warnings=row.warnings,
            still=row.quiet_since is not None,
        )
        for row in rows
    ]
    troubled = tuple(e for e in entries if e.health in ("failing", "gone"))
    return StatusView(
        generated=when(now),
        total=len(rows),
        groups=len({row.site for row in rows}),
        troubled=troubled,
        # Those gone still first among the rest: worth a look, not a problem.
        fine=tuple(sorted((e for e in entries if e not in troubled), key=lambda e: not e.still)),
        json_url=json_url,
    )


def _technical(row: SourceRow) -> str | None:
    if not row.last_error:
        return None
    status = f" (HTTP {row.http_status})" if row.http_status else ""
    return f"{row.last_error}{status}"


def render_status_json(rows: list[SourceRow], now: datetime) -> bytes:
    def plain(row: SourceRow) -> dict[str, object]:
        return {
            k: v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v
            for k, v in asdict(row).items()
        }

    counts = {
        health: sum(r.health == health for r in rows)
        for health in ("ok", "failing", "gone", "waiting")
    }
    document = {"generated": now.isoformat(), "counts": counts, "sources": [plain(r) for r in rows]}
    return json.dumps(document, ensure_ascii=False, indent=1).encode()
