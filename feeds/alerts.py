"""Telling a group when its website can no longer be read, once, in German.

A source that failed `[alerts] after` harvests in a row (3 by default) sends its group's
contacts one mail: what is wrong, since when, at which address, what to check, what the
service does meanwhile, and the technical detail below. Further failures send nothing;
when the source is read again, one more mail says so. A source that answers but went
still (feeds/stillness.py) is told once. A group without a contact is told through the
network office (`[alerts] office`), which also gets a summary every Monday morning. With
`[alerts] webhook`, each alert is also POSTed as JSON (feeds/webhook.py).

Each mail is queued in the store under a key naming the source and the run of failures
it is about (the time it began), so however many processes and instances decide at once,
it is queued once; and sent once, by whichever claims it (feeds/store/outbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from feeds import mailer, webhook
from feeds.config import Alerts, Config
from feeds.model import DEFAULT_TIMEZONE, Network, Site, SourceConfig
from feeds.stillness import Still, stillness
from feeds.store import Activity, Mail, SourceState, Store, StoreError

log = logging.getLogger(__name__)

EVERY_SECONDS = 30.0  # how often states are looked at besides after each harvest
SLOW_EVERY_SECONDS = 3600.0  # how often stillness and the weekly summary are
SUMMARY_AT = time(8, 0)  # on Mondays, Berlin time
LEASE = timedelta(minutes=2)  # a sender's claim on a mail; it lapses if the sender dies
RETRY_FIRST = timedelta(minutes=1)  # after an SMTP failure; doubling up to RETRY_MAX
RETRY_MAX = timedelta(hours=1)
BERLIN = ZoneInfo(DEFAULT_TIMEZONE)


@dataclass(frozen=True, slots=True)
class Episode:
    """A source's latest run of failures, as an alert sees it."""

    site: Site
    source: SourceConfig
    state: SourceState

    @property
    def since(self) -> datetime:
        assert self.state.failing_since is not None
        return self.state.failing_since

    def key(self, kind: str) -> str:
        begun = self.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return f"{kind}:{self.site.slug}/{self.source.name}:{begun}"


@dataclass(frozen=True, slots=True)
class Quiet:
    """A source that answers but went still (feeds/stillness.py)."""

    site: Site
    source: SourceConfig
    still: Still

    def key(self) -> str:
        # Once per stillness: a new item, then quiet again, is a new one.
        last = self.still.last.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"still:{self.site.slug}/{self.source.name}:{last}"


def quiet_sources(
    network: Network,
    states: Sequence[SourceState],
    activity: Mapping[tuple[str, str], Activity],
    now: datetime,
) -> list[Quiet]:
    """Configured sources that answer, with items, and went still."""
    found, by_key = [], {(state.site, state.source): state for state in states}
    for site in network.sites:
        for source in site.sources:
            key = site.slug, source.name
            state = by_key.get(key)
            if state is None or state.failures or state.last_success is None:
                continue  # failing is told as failing; never read: nothing to judge
            still = stillness(activity[key], now) if key in activity else None
            if still is not None:
                found.append(Quiet(site, source, still))
    return found


def episodes(network: Network, states: Sequence[SourceState]) -> list[Episode]:
    """Each configured source that has failed at some time (its latest run)."""
    configured = {
        (site.slug, source.name): (site, source)
        for site in network.sites
        for source in site.sources
    }
    found = []
    for state in states:
        if state.failing_since is not None and (state.site, state.source) in configured:
            found.append(Episode(*configured[state.site, state.source], state))
    return found


def candidates(alerts: Alerts, found: Sequence[Episode]) -> list[str]:
    """The keys whose mails may be due: what the store must say it holds already."""
    keys = []
    for episode in found:
        if episode.state.failures >= alerts.after:
            keys.append(episode.key("failing"))
        elif episode.state.failures == 0:
            keys += [episode.key("failing"), episode.key("recovered")]
    return keys


def due(
    alerts: Alerts,
    network: Network,
    found: Sequence[Episode],
    queued: set[str],
    status_url: str | None,
    quiet: Sequence[Quiet] = (),
) -> list[Mail]:
    """What to queue now: a failure reached `after` and was not told; a told failure
    ended and its end was not told; a source went still and was not told. Each as a
    mail to those who can act, and as JSON to the webhook if there is one."""
    told = []
    for episode in found:
        failing, recovered = episode.key("failing"), episode.key("recovered")
        if episode.state.failures >= alerts.after and failing not in queued:
            told += _alert(alerts, network, episode.site, "failing", failing,
                           failing_mail(network, episode, status_url),
                           _payload(episode.site, episode.source, status_url,
                                    since=episode.since,
                                    problem=explain(episode.state.last_error or "",
                                                    episode.state.last_status)[0]))  # fmt: skip
        elif episode.state.failures == 0 and failing in queued and recovered not in queued:
            told += _alert(alerts, network, episode.site, "recovered", recovered,
                           recovered_mail(network, episode, status_url),
                           _payload(episode.site, episode.source, status_url,
                                    since=episode.state.last_success))  # fmt: skip
    for still in quiet:
        if still.key() not in queued:
            told += _alert(alerts, network, still.site, "still", still.key(),
                           still_mail(network, still, status_url),
                           _payload(still.site, still.source, status_url,
                                    since=still.still.last))  # fmt: skip
    return told


def _alert(
    alerts: Alerts,
    network: Network,
    site: Site,
    event: str,
    key: str,
    mail: tuple[str, str],
    payload: dict[str, Any],
) -> list[Mail]:
    subject, body = mail
    to = site.contact or alerts.office
    told = [Mail(key, tuple(to), subject, body)] if to else []  # nobody: /status shows it
    if alerts.webhook:
        # Chat bridges (Mattermost, Slack, Matrix hookshot) show `text`; the rest is for
        # whatever else reads it.
        text = f"{subject} – {site.name}: {payload['address']}"
        if payload.get("problem"):
            text += f" ({payload['problem']})"
        body = json.dumps({"text": text, "event": event, **payload}, ensure_ascii=False)
        told.append(Mail(f"webhook:{key}", (alerts.webhook,), subject, body, channel="webhook"))
    return told


def _payload(
    site: Site,
    source: SourceConfig,
    status_url: str | None,
    *,
    since: datetime | None,
    problem: str | None = None,
) -> dict[str, Any]:
    return {
        "group": {"slug": site.slug, "name": site.name},
        "source": {"name": source.name, "kind": source.kind},
        "address": source.address,
        "since": since.isoformat() if since else None,
        "problem": problem,
        "status": _of_group(status_url, site) if status_url else None,
    }


@dataclass(frozen=True, slots=True)
class Week:
    """The week a summary to the office is about: due on its Monday at SUMMARY_AT."""

    year: int
    number: int  # ISO week
    due: datetime

    @property
    def key(self) -> str:
        return f"summary:{self.year}-W{self.number:02d}"

    @property
    def covers_from(self) -> datetime:
        return self.due - timedelta(days=7)


def summary_week(now: datetime, watching_since: datetime | None) -> Week | None:
    """This week's summary while it is due: for a day from Monday SUMMARY_AT (Berlin), a
    summary that came later than that would be old news; and only when the service has
    watched a whole week before (a new one waits for its first Monday)."""
    local = now.astimezone(BERLIN)
    monday = local.date() - timedelta(days=local.weekday())
    due_at = datetime.combine(monday, SUMMARY_AT, BERLIN)
    if not due_at <= now < due_at + timedelta(days=1):
        return None
    if watching_since is None or watching_since > due_at - timedelta(days=7):
        return None
    year, number, _ = monday.isocalendar()
    return Week(year, number, due_at)


class Alerter:
    """Decides and sends, after every harvest and every EVERY_SECONDS; a process that
    harvests runs one (several may: each mail is still queued and sent once). Stillness
    and the weekly summary, which move by days, are looked at every `slow_every`."""

    def __init__(
        self,
        store: Store,
        configuration: Callable[[], Config],
        *,
        worker: str,
        status_url: str | None,
        every: float = EVERY_SECONDS,
        slow_every: float = SLOW_EVERY_SECONDS,
    ) -> None:
        self.store = store
        self.configuration = configuration  # the one in force (it may change while running)
        self.worker = worker
        self.status_url = status_url
        self.every = every
        self.slow_every = timedelta(seconds=slow_every)
        self._slow_at: datetime | None = None  # when stillness was last looked at
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every)
            self._wake.clear()
            try:
                await self.round(datetime.now(UTC))
            except StoreError:
                log.exception("alerts: the store failed; trying again later")

    async def round(self, now: datetime) -> int:
        """Queue what is due and send what is queued; how many went out."""
        config = self.configuration()
        alerts = config.alerts
        if alerts is None:
            return 0
        states = await self.store.source_states()
        found = episodes(config.network, states)
        keys = candidates(alerts, found)
        quiet: list[Quiet] = []
        week = None
        if self._slow_at is None or now - self._slow_at >= self.slow_every:
            self._slow_at = now
            quiet = quiet_sources(config.network, states, await self.store.activity(now), now)
            keys += [q.key() for q in quiet]
            if alerts.office:
                week = summary_week(now, await self.store.watching_since())
                keys += [week.key] if week else []
        queued = await self.store.queued(keys)
        mails = due(alerts, config.network, found, queued, self.status_url, quiet)
        if week is not None and week.key not in queued:
            recovered = await self._recovered(config.network, states, week.covers_from)
            subject, body = summary_mail(
                config.network, week, found, quiet, recovered, queued, self.status_url
            )
            mails.append(Mail(week.key, alerts.office, subject, body))
        if mails and await self.store.queue_mails(mails, now):
            log.info("alerts: queued %s", ", ".join(mail.key for mail in mails))
        return await self.send(alerts, now)

    async def _recovered(
        self, network: Network, states: Sequence[SourceState], since: datetime
    ) -> list[Episode]:
        """Sources that failed in the week and are read again now."""
        failed = {(r.site, r.source) for r in await self.store.harvests(since)
                  if r.status == "failed"}  # fmt: skip
        return [
            e
            for e in episodes(network, states)
            if e.state.failures == 0 and (e.site.slug, e.source.name) in failed
        ]

    async def send(self, alerts: Alerts, now: datetime) -> int:
        sent = 0
        while (mail := await self.store.claim_mail(self.worker, now, LEASE)) is not None:
            try:
                if mail.channel == "webhook":
                    await webhook.post(mail.recipients[0], mail.body)
                else:
                    await mailer.send(alerts, mail)
            except (mailer.MailError, webhook.WebhookError) as exc:
                retry = min(RETRY_FIRST * 2**mail.attempts, RETRY_MAX)
                log.warning("alerts: %s not sent (%s); trying again in %s", mail.key, exc, retry)
                await self.store.mail_failed(mail, str(exc), now + retry)
                continue
            await self.store.mail_sent(mail, now)
            log.info("alerts: sent %s to %s", mail.key, ", ".join(mail.recipients))
            sent += 1
        return sent


# What a volunteer reads. The harvest's own words (English, technical) go below the line.
WHAT = {
    "feed": "der Feed",
    "ical": "der Kalender",
    "tribe_events": "die Termine",
    "wordpress": "die Beiträge",
    "html": "die Seite",
    "jsonld": "die Seite",
    "files": "die Dateien",
}


def failing_mail(network: Network, episode: Episode, status_url: str | None) -> tuple[str, str]:
    site, source, state = episode.site, episode.source, episode.state
    what = WHAT.get(source.kind, "die Quelle")
    problem, check = explain(state.last_error or "", state.last_status)
    subject = f"{site.name}: {what} kann nicht mehr gelesen werden"
    body = f"""Guten Tag,

{network.name} zeigt die Beiträge und Termine von „{site.name}“ auf seinen Seiten, in
Feeds und Kalendern. Dafür liest es regelmäßig diese Adresse:

    {source.address}

Seit {_when(episode.since)} klappt das nicht mehr ({state.failures} Versuche nacheinander).

Was los ist:
    {problem}

Was Sie prüfen können:
    {check}

Was solange geschieht:
    Wir versuchen es weiter, erst in kurzen, dann in längeren Abständen. Alles, was
    bisher gelesen wurde, bleibt sichtbar; Neues erscheint erst wieder, wenn die Adresse
    antwortet. Dann schreiben wir Ihnen noch einmal. Bis dahin bekommen Sie zu diesem
    Problem keine weitere Nachricht.

Viele Grüße
{network.name}

--
Technische Angaben (für die Betreuung der Website):
    Quelle: {site.slug}/{source.name} ({source.kind})
    Fehler: {state.last_error or "keine Angabe"}
    HTTP-Status: {state.last_status or "keiner"}
    Zuletzt gelesen: {_when(state.last_success) if state.last_success else "noch nie"}
"""
    if status_url:
        body += f"    Ihre Quellen: {_of_group(status_url, site)}\n"
    return subject, body


def recovered_mail(network: Network, episode: Episode, status_url: str | None) -> tuple[str, str]:
    site, source, state = episode.site, episode.source, episode.state
    what = WHAT.get(source.kind, "die Quelle")
    subject = f"{site.name}: {what} wird wieder gelesen"
    body = f"""Guten Tag,

gute Nachricht: Seit {_when(state.last_success) if state.last_success else "eben"} kann
{network.name} diese Adresse von „{site.name}“ wieder lesen:

    {source.address}

Neue Beiträge und Termine erscheinen wieder wie gewohnt. Sie müssen nichts weiter tun.

Viele Grüße
{network.name}
"""
    if status_url:
        body += f"\n--\nIhre Quellen: {_of_group(status_url, site)}\n"
    return subject, body


EVENT_KINDS = frozenset({"ical", "tribe_events", "html", "jsonld"})  # list events


def still_mail(network: Network, quiet: Quiet, status_url: str | None) -> tuple[str, str]:
    site, source, still = quiet.site, quiet.source, quiet.still
    events = source.kind in EVENT_KINDS
    subject = f"{site.name}: seit {_day(still.last)} nichts Neues"
    if events:
        newest = (
            f"Der letzte Termin dort war am {_day(still.last)}; ein kommender steht nicht darin."
        )
    else:
        newest = f"Der neueste Beitrag dort ist vom {_day(still.last)}."
    rhythm = f" Sonst kam dort {_every(still.usual)} etwas Neues." if still.usual else ""
    body = f"""Guten Tag,

{network.name} zeigt die Beiträge und Termine von „{site.name}“ auf seinen Seiten, in
Feeds und Kalendern. Dafür liest es regelmäßig diese Adresse:

    {source.address}

Sie antwortet, aber es erscheint dort nichts Neues mehr. {newest}{rhythm}

Das kann Absicht sein, eine Pause oder eine ruhige Zeit. Dann müssen Sie nichts tun.

Erscheinen Ihre {"Termine" if events else "Beiträge"} inzwischen woanders, etwa auf einer
neuen Website, in einem anderen Kalender oder über ein anderes Plugin? Dann schicken Sie
uns bitte die neue Adresse, damit sie auch bei uns wieder erscheinen.

Zu dieser Adresse melden wir uns erst wieder, wenn nach einem neuen Eintrag wieder lange
nichts kommt.

Viele Grüße
{network.name}
"""
    if status_url:
        body += f"\n--\nIhre Quellen: {_of_group(status_url, site)}\n"
    return subject, body


def summary_mail(
    network: Network,
    week: Week,
    found: Sequence[Episode],
    quiet: Sequence[Quiet],
    recovered: Sequence[Episode],
    told: set[str],
    status_url: str | None,
) -> tuple[str, str]:
    """The office's Monday summary: what fails, what went still, what came back."""
    failing = sorted((e for e in found if e.state.failures), key=lambda e: e.since)
    sources = sum(len(site.sources) for site in network.sites)
    if failing or quiet:
        counts = [
            f"{len(failing)} gestört" if failing else "",
            f"{len(quiet)} still" if quiet else "",
        ]
        headline = ", ".join(filter(None, counts))
    else:
        headline = "alles in Ordnung"
    subject = f"{network.name}: Wochenbericht KW {week.number} – {headline}"
    lines = [
        "Guten Morgen,",
        "",
        f"so steht es am {_day(week.due)} um die {sources} Quellen der"
        f" {len(network.sites)} Gruppen von {network.name}.",
    ]
    if not failing and not quiet and not recovered:
        lines += ["", "Alle Quellen wurden gelesen, keine ist still. Es ist nichts zu tun."]
    if failing:
        lines += ["", f"Gestört ({len(failing)}):"]
        for e in failing:
            problem, _ = explain(e.state.last_error or "", e.state.last_status)
            if not e.site.contact:
                who = "Für die Gruppe ist keine Kontaktadresse eingetragen."
            elif e.key("failing") in told:
                who = "Die Gruppe wurde per Mail benachrichtigt."
            else:
                who = "Die Gruppe wird benachrichtigt, wenn es anhält."
            lines += [
                f"  - {e.site.name}, {WHAT.get(e.source.kind, 'die Quelle')}: {problem}",
                f"    Seit {_when(e.since)}, {e.state.failures}-mal nacheinander. {who}",
                f"    {e.source.address}",
            ]
    if quiet:
        lines += ["", f"Still ({len(quiet)}):"]
        for q in quiet:
            rhythm = f" (sonst {_every(q.still.usual)})" if q.still.usual else ""
            lines += [
                f"  - {q.site.name}, {WHAT.get(q.source.kind, 'die Quelle')}: zuletzt am"
                f" {_day(q.still.last)} etwas Neues{rhythm}.",
                f"    {q.source.address}",
            ]
    if recovered:
        lines += ["", f"Wieder in Ordnung ({len(recovered)}):"]
        for e in recovered:
            lines.append(f"  - {e.site.name}, {WHAT.get(e.source.kind, 'die Quelle')}")
    if status_url:
        lines += ["", f"Alle Quellen, jederzeit: {status_url}"]
    return subject, "\n".join(lines) + "\n"


def _of_group(status_url: str, site: Site) -> str:
    """The status page of the group's own sources."""
    return f"{status_url}?{urlencode({'group': site.slug})}"


def _every(gap: timedelta | None) -> str:
    """A usual gap in words: "etwa alle 9 Tage", "etwa alle 3 Wochen"."""
    days = max(1, round((gap or timedelta(days=1)) / timedelta(days=1)))
    if days == 1:
        return "etwa täglich"
    if days < 14:
        return f"etwa alle {days} Tage"
    if days < 60:
        return f"etwa alle {round(days / 7)} Wochen"
    return f"etwa alle {round(days / 30)} Monate"


def _day(moment: datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%d.%m.%Y")


def explain(error: str, status: int | None) -> tuple[str, str]:
    """A harvest's error as a volunteer understands it: what is wrong, what to check."""
    text = error.lower()
    moved = (
        "Wurde sie verschoben oder umbenannt (etwa bei einem Umbau der Website)? Dann"
        " schicken Sie uns bitte die neue Adresse."
    )
    in_browser = "Öffnen Sie die Adresse im Browser: Kommt dort, was Sie erwarten?"
    if "may only speak http" in text or "no secure connection" in text:
        return (
            "Ihre Website antwortet nicht über eine sichere Verbindung (https).",
            "Ist die Website nur über http:// erreichbar? Dann sagen Sie es uns, oder lassen"
            " Sie https einrichten (bei den meisten Anbietern kostenlos).",
        )
    if "connection refused" in text or "cannot connect" in text:
        if any(w in text for w in ("name or service", "nodename", "getaddrinfo", "resolve")):
            return (
                "Den Namen der Website findet das Internet nicht (mehr).",
                "Ist die Domain noch registriert und richtig eingerichtet?",
            )
        return (
            "Der Server Ihrer Website nimmt keine Verbindung an.",
            "Ist die Website im Browser erreichbar? Ist der Server oder das Hosting-Paket"
            " noch in Betrieb?",
        )
    if "in time" in text:
        return (
            "Ihre Website antwortet nicht rechtzeitig.",
            "Ist die Website gerade sehr langsam oder überlastet?",
        )
    if status in (404, 410):
        return ("Unter dieser Adresse gibt es nichts mehr (nicht gefunden).", moved)
    if status in (401, 403):
        return (
            "Die Website verweigert den Zugriff.",
            "Schützt ein Sicherheits-Plugin oder eine Firewall die Seite vor Programmen wie"
            " unserem? Dann bitte die Adresse für Abrufe freigeben.",
        )
    if status == 429:
        return (
            "Ihre Website bittet, seltener zu fragen.",
            "Nichts: wir fragen seltener. Hält es an, sagen Sie uns Bescheid.",
        )
    if status is not None and status >= 500:
        return (
            f"Der Server Ihrer Website meldet einen Fehler ({status}).",
            "Funktioniert die Website im Browser? Oft ist es ein Update oder Plugin, das"
            " gerade installiert wurde.",
        )
    if "redirects" in text:
        return ("Die Adresse leitet endlos weiter.", in_browser)
    if "limit" in text or "too large" in text or "larger" in text:
        return ("Die Datei ist zu groß, um sie zu lesen.", in_browser)
    if "empty body" in text:
        return ("Ihre Website antwortet mit einer leeren Seite.", in_browser)
    if "broke off" in text or "corrupt" in text or "decode" in text:
        return ("Die Antwort Ihrer Website ist beschädigt oder bricht ab.", in_browser)
    if "not a public address" in text or "refused:" in text:
        return (
            "Die Adresse führt in ein privates Netz, das wir nicht abfragen.",
            "Ist die Adresse richtig? Sie muss aus dem Internet erreichbar sein.",
        )
    if "not a readable" in text or "html page" in text or "not a feed" in text:
        return (
            "Unter der Adresse steht kein Feed oder Kalender mehr, sondern eine andere Seite.",
            "Liefert das Plugin (etwa The Events Calendar) den Export noch? Steht dort eine"
            " Wartungs- oder Fehlerseite? " + moved,
        )
    return ("Die Adresse liefert nichts, was wir lesen können.", in_browser)


def _when(moment: datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%d.%m.%Y, %H:%M Uhr")
