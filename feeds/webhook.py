"""Posting one alert of the outbox as JSON to `[alerts] webhook` (feeds/alerts.py): the
address a Mattermost, Slack or Matrix (hookshot) incoming webhook gives, which show the
`text`, or any service that reads the rest."""

from __future__ import annotations

import aiohttp

TIMEOUT_SECONDS = 30.0


class WebhookError(Exception):
    """The webhook did not take it (it is tried again later)."""


async def post(url: str, body: str) -> None:
    # The office chose this address (it may well be on its own network); redirects are
    # not followed, so an answer cannot send the alert elsewhere.
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(
                url,
                data=body.encode(),
                headers={"Content-Type": "application/json; charset=utf-8"},
                allow_redirects=False,
            ) as response,
        ):
            if not 200 <= response.status < 300:
                raise WebhookError(f"the webhook answered {response.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise WebhookError(f"{type(exc).__name__}: {exc}") from exc
