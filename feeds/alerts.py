"""Telling a group when its website can no longer be read, once, in German.

A source that failed `[alerts] after` harvests in a row (3 by default) sends its group's
contacts one mail: what is wrong, since when, at which address, what to check, what the
service does meanwhile, and the technical detail below. Further failures send nothing;
when the source is read again, one more mail says so. A group without a contact is
told through the network office (`[alerts] office`).

Each mail is queued in the store under a key naming the source and the run of failures
it is about (the time it began), so however many processes and instances decide at once,
it is queued once; and sent once, by whichever claims it (feeds/store/outbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from feeds import mailer
from feeds.config import Alerts, Config
from feeds.model import DEFAULT_TIMEZONE, Network, Site, SourceConfig
from feeds.store import Mail, SourceState, Store, StoreError

log = logging.getLogger(__name__)

EVERY_SECONDS = 30.0  # how often states are looked at besides after each harvest
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
) -> list[Mail]:
    """The mails to queue now: a failure reached `after` and was not told; a told failure
    ended and its end was not told."""
    mails = []
    for episode in found:
        to = episode.site.contact or alerts.office
        if not to:
            continue  # nobody to tell: /status shows it
        failing, recovered = episode.key("failing"), episode.key("recovered")
        if episode.state.failures >= alerts.after and failing not in queued:
            subject, body = failing_mail(network, episode, status_url)
            mails.append(Mail(failing, tuple(to), subject, body))
        elif episode.state.failures == 0 and failing in queued and recovered not in queued:
            subject, body = recovered_mail(network, episode, status_url)
            mails.append(Mail(recovered, tuple(to), subject, body))
    return mails


class Alerter:
    """Decides and sends, after every harvest and every EVERY_SECONDS; a process that
    harvests runs one (several may: each mail is still queued and sent once)."""

    def __init__(
        self,
        store: Store,
        configuration: Callable[[], Config],
        *,
        worker: str,
        status_url: str | None,
        every: float = EVERY_SECONDS,
    ) -> None:
        self.store = store
        self.configuration = configuration  # the one in force (it may change while running)
        self.worker = worker
        self.status_url = status_url
        self.every = every
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
        """Queue what is due and send what is queued; how many mails went out."""
        config = self.configuration()
        alerts = config.alerts
        if alerts is None:
            return 0
        found = episodes(config.network, await self.store.source_states())
        queued = await self.store.queued(candidates(alerts, found))
        mails = due(alerts, config.network, found, queued, self.status_url)
        if mails and await self.store.queue_mails(mails, now):
            log.info("alerts: queued %s", ", ".join(mail.key for mail in mails))
        return await self.send(alerts, now)

    async def send(self, alerts: Alerts, now: datetime) -> int:
        sent = 0
        while (mail := await self.store.claim_mail(self.worker, now, LEASE)) is not None:
            try:
                await mailer.send(alerts, mail)
            except mailer.MailError as exc:
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
        body += f"    Alle Quellen: {status_url}\n"
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
        body += f"\n--\nAlle Quellen: {status_url}\n"
    return subject, body


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
