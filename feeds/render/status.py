"""The status page: every source, what happened last, and when it runs next."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from html import escape
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


def render_status_html(
    rows: list[SourceRow], network_name: str, now: datetime, zone: ZoneInfo
) -> bytes:
    def when(value: datetime | None) -> str:
        if value is None:
            return "–"
        return escape(format_datetime(value, "d. MMM y, HH:mm", tzinfo=zone, locale="de_DE"))

    labels = {
        "ok": "in Ordnung",
        "failing": "Fehler",
        "gone": "nicht mehr da (410)",
        "waiting": "noch nicht abgerufen",
    }
    body = "\n".join(
        f'<tr class="{row.health}"><td>{escape(row.site_name)}</td><td>{escape(row.source)}'
        f" <small>({escape(row.kind)})</small></td><td>{labels[row.health]}</td>"
        f"<td>{when(row.last_success)}</td><td>{when(row.last_attempt)}</td>"
        f"<td>{row.items}</td><td>{when(row.next_run)}</td><td>"
        + (escape(row.last_error) if row.last_error else "")
        + (
            f"<br>Umgezogen nach {escape(row.moved_to)}: bitte Konfiguration anpassen"
            if row.moved_to
            else ""
        )
        + _notes("Übersprungen", row.skipped)
        + _notes("Hinweise", row.warnings)
        + "</td></tr>"
        for row in rows
    )
    failing = sum(r.health in ("failing", "gone") for r in rows)
    page = f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Status: {escape(network_name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1rem; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left;
  vertical-align: top; }}
tr.failing td, tr.gone td {{ background: #fde8e8; }}
</style></head>
<body><main>
<h1>Status der Quellen</h1>
<p>{len(rows)} Quellen, davon {failing} mit Problemen. Stand: {when(now)}.
<a href="status.json">Als JSON</a></p>
<table>
<thead><tr><th>Gruppe</th><th>Quelle</th><th>Zustand</th><th>Zuletzt erfolgreich</th>
<th>Zuletzt versucht</th><th>Einträge</th><th>Nächster Abruf</th><th>Meldung</th></tr></thead>
<tbody>
{body}
</tbody></table>
</main></body></html>
"""
    return page.encode()


def _notes(label: str, lines: tuple[str, ...]) -> str:
    if not lines:
        return ""
    shown = "".join(f"<li>{escape(line)}</li>" for line in lines[:10])
    more = f"<li>… und {len(lines) - 10} weitere</li>" if len(lines) > 10 else ""
    return f"<details><summary>{label}: {len(lines)}</summary><ul>{shown}{more}</ul></details>"
