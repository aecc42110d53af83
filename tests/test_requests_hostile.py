"""Every request a client can send gets an answer that names the problem, never a 5xx.

Sent as raw bytes over a socket where a well-behaved client library would refuse to send
them (non-UTF-8 headers, a 20 KB request line), and always against the real app."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.config import Config, Settings
from feeds.harvest import Harvester
from feeds.model import stable_uuid
from feeds.store import open_store
from feeds.web.app import create_app
from tests.conftest import Serve
from tests.helpers import LOCAL

TOKEN = "s3cret-token-for-tests"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def send(base: str, raw: bytes) -> Answer:
    """One HTTP/1.1 request, written byte for byte."""
    address = urlsplit(base)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(lines[0].split()[1]), headers, body)


def request(target: bytes, *, method: bytes = b"GET", **headers: bytes) -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [name.replace("_", "-").encode() + b": " + value for name, value in headers.items()]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


@pytest.fixture
async def base(settings: Settings, demo_config: Config, serve: Serve) -> str:
    store = await open_store(settings.database_url)
    try:
        await Harvester(store, demo_config.network, demo_config.sources, outbound=LOCAL).run_once()
    finally:
        await store.close()
    with_token = Settings(
        config_path=settings.config_path, database_url=settings.database_url, admin_token=TOKEN
    )
    return await serve(create_app(with_token, demo_config, harvest=False, revision_poll=0.01))


FEED = b"/kaiserslautern/news.atom"
CALENDAR = b"/kaiserslautern/events.ics"
CASES: list[tuple[str, bytes, dict[str, bytes], int, str]] = [
    ("superscript two as limit", FEED + b"?limit=%C2%B2", {}, 400, "'limit'"),
    ("3,000 digits as limit", FEED + b"?limit=" + b"9" * 3000, {}, 400, "whole number"),
    ("limit with a sign", FEED + b"?limit=-1", {}, 400, "from 1 to 1000"),
    ("the last day of year 9999", CALENDAR + b"?to=9999-12-31", {}, 400, "1900 to 2100"),
    ("from in year 9999", CALENDAR + b"?from=9999-12-31", {}, 400, "1900 to 2100"),
    ("from in year 1", CALENDAR + b"?from=0001-01-01", {}, 400, "1900 to 2100"),
    ("a date in other digits", CALENDAR + b"?from=%D9%A2025-03-08", {}, 400, "YYYY-MM-DD"),
    ("a search that is no UTF-8", FEED + b"?q=%FF%FE", {}, 200, ""),
    # Found by the property test below: FTS5 read the NUL as the end of its query (a 500).
    ("a search of NUL characters", FEED + b"?q=%00%00%00", {}, 400, "control characters"),
    ("a category with a NUL", CALENDAR + b"?category=a%00b", {}, 400, "control characters"),
    ("a category of 3,000 characters", FEED + b"?category=" + b"x" * 3000, {}, 400, "1 to 200"),
    ("an unknown group named at length", b"/" + b"g" * 3000 + b"/news.atom", {}, 404, "…"),
    ("an 8 KB address", b"/" + b"a" * 8000, {}, 414, "at most 4096"),
    ("a 20 KB address", b"/kaiserslautern/news.atom?q=" + b"a" * 20000, {}, 414, "at most"),
    ("a Host that is no UTF-8", FEED, {"Host": b"\xff\xfe"}, 400, "Host header"),
    ("a Host with a path in it", FEED, {"Host": b"evil.example/x"}, 400, "no host name"),
]


@pytest.mark.parametrize(
    ("target", "headers", "status", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_a_hostile_request_gets_a_clear_answer(
    base: str, target: bytes, headers: dict[str, bytes], status: int, words: str
) -> None:
    if "Host" in headers:
        raw = request(target).replace(b"Host: 127.0.0.1", b"Host: " + headers["Host"])
    else:
        raw = request(target)
    answer = await send(base, raw)
    assert answer.status == status, answer.body[:300]
    assert words.encode() in answer.body
    assert len(answer.body) < 600 or status == 200  # errors echo an excerpt, never the input
    assert answer.headers["access-control-allow-origin"] == "*"


async def test_from_far_back_still_finds_this_years_events(base: str) -> None:
    plain = await send(base, request(CALENDAR))
    far = await send(base, request(CALENDAR + b"?from=2000-01-01"))
    assert far.status == 200
    assert far.body.count(b"BEGIN:VEVENT") == plain.body.count(b"BEGIN:VEVENT") > 0


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        (TOKEN.encode(), 401),  # no scheme
        (b"Basic " + TOKEN.encode(), 401),
        (b"Bearer wrong", 401),
        (b"Bearer \xff\xfe", 401),
        (b"bearer " + TOKEN.encode(), 200),  # schemes are case-insensitive
        (b"Bearer  " + TOKEN.encode(), 200),
    ],
)
async def test_authorization_is_read_as_rfc_9110_says(
    base: str, authorization: bytes | None, status: int
) -> None:
    headers = {"Content_Length": b"0"}
    if authorization is not None:
        headers["Authorization"] = authorization
    answer = await send(
        base, request(b"/admin/harvest?site=musterstadt", method=b"POST", **headers)
    )
    assert answer.status == status, answer.body
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_a_cors_preflight_is_answered(base: str) -> None:
    answer = await send(
        base,
        request(
            FEED,
            method=b"OPTIONS",
            Origin=b"https://www.engagiertestadt.de",
            Access_Control_Request_Method=b"GET",
            Access_Control_Request_Headers=b"if-none-match",
        ),
    )
    assert answer.status == 204
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "GET" in answer.headers["access-control-allow-methods"]
    assert "If-None-Match" in answer.headers["access-control-allow-headers"]


async def test_errors_carry_cors_so_a_website_can_read_them(base: str) -> None:
    for target in (b"/atlantis/news.atom", FEED + b"?limit=0"):
        answer = await send(base, request(target))
        assert answer.status in (400, 404)
        assert answer.headers["access-control-allow-origin"] == "*"


async def test_one_event_downloads_as_a_named_file(base: str) -> None:
    rock_rising = stable_uuid("kaiserslautern", "demo", "rock-rising-2025")
    answer = await send(base, request(f"/kaiserslautern/events/{rock_rising}.ics".encode()))
    assert answer.status == 200
    assert answer.headers["content-disposition"] == (
        "attachment; filename=\"Rock-Rising.ics\"; filename*=UTF-8''Rock%20Rising.ics"
    )


ROUTES = [
    b"/",
    b"/kaiserslautern/",
    b"/network/",
    FEED,
    CALENDAR,
    b"/network/events.json",
    b"/kaiserslautern/events/0b7a3a51-5a8e-5a4b-9c6e-0a0b0c0d0e0f.ics",
    b"/status",
    b"/opml",
    b"/healthz",
    b"/status.json",
    # Pages for people and what they use (the demo's Rock Rising and its first post).
    b"/kaiserslautern/events/c950f0cb-ad8b-5a1e-ac3d-4b505b998d7b",
    b"/kaiserslautern/posts/b1a51198-0e37-5211-918c-ddcc274341c1",
    b"/kaiserslautern/events/00000000-0000-0000-0000-000000000000",
    b"/network/widget",
    b"/kaiserslautern/qr.svg",
    b"/embed",
    b"/embed.js",
    b"/static/pages.css",
    b"/static/%2E%2E%2Fpages.py",
]
PARAMETERS = [
    b"limit", b"from", b"to", b"q", b"category", b"region", b"site", b"near", b"radius", b"_"
]  # fmt: skip
# Bytes as a client may put them in a request target: percent-escapes of anything, and
# the printable ASCII that HTTP allows unescaped.
target_bytes = st.lists(
    st.sampled_from([b"%00", b"%FF", b"%C2%B2", b"%E2%80%AE", b"%0D%0A", b"%25", b"..", b"/"])
    | st.binary(min_size=1, max_size=3).map(lambda b: "".join(f"%{x:02X}" for x in b).encode())
    | st.sampled_from([b"a", b"9", b"-", b"2025-03-08", b"99999999999", b"\xc2\xb2"]),
    max_size=6,
).map(b"".join)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(ROUTES),
    query=st.lists(st.tuples(st.sampled_from(PARAMETERS), target_bytes), max_size=3),
    method=st.sampled_from([b"GET", b"HEAD", b"OPTIONS", b"POST", b"PUT"]),
    header=st.sampled_from(["If-None-Match", "If-Modified-Since", "Accept-Encoding", "Origin"]),
    value=st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b),
)
async def test_no_request_gets_a_5xx(
    base: str,
    route: bytes,
    query: list[tuple[bytes, bytes]],
    method: bytes,
    header: str,
    value: bytes,
) -> None:
    target = route + (b"?" + b"&".join(k + b"=" + v for k, v in query) if query else b"")
    raw = request(
        target, method=method, **{header.replace("-", "_"): value, "Content_Length": b"0"}
    )
    answer = await send(base, raw)
    assert answer.status < 500, (target, answer.body[:200])
    if answer.status >= 400 and method != b"HEAD":  # a HEAD answer has no body
        assert answer.body.strip()  # says what is wrong
