"""Adding groups: `feeds import-opml` and the slugs and files it writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from feeds.config import load_config
from feeds.model import Network, Site, SourceConfig
from feeds.onboarding import address_key, groups_from_opml, short_slug, slug_of
from tests.helpers import LOCAL_ENV

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Engagierte Städte</title></head>
  <body>
    <outline text="Rheinland-Pfalz">
      <outline type="rss" text="Engagierte Stadt Kaiserslautern"
               xmlUrl="https://www.example.org/kaiserslautern/feed/"
               htmlUrl="https://www.example.org/kaiserslautern/"/>
      <outline type="rss" title="Bürgerstiftung Bad Dürkheim" text="x"
               xmlUrl="https://bad-duerkheim.example.org/feed.atom"/>
    </outline>
    <outline type="rss" text="Netzwerk ohne Ordner" xmlUrl="https://netz.example.org/rss"/>
    <outline text="Kein Feed" htmlUrl="https://example.org/"/>
    <outline text="Böse" xmlUrl="javascript:alert(1)"/>
  </body>
</opml>
""".encode()


def test_slugs_are_address_safe() -> None:
    assert slug_of("Bad Homburg vor der Höhe") == "bad-homburg-vor-der-hoehe"
    assert slug_of("Straße & Söhne!") == "strasse-soehne"
    assert slug_of("???") == "gruppe"


def test_short_slugs_name_the_place() -> None:
    assert short_slug("Engagierte Stadt Zwickau", set()) == "zwickau"
    assert short_slug("Freiwilligenagentur Halle-Saalkreis e.V.", set()) == "halle-saalkreis"
    assert short_slug("Bürgerstiftung Bad Dürkheim", set()) == "bad-duerkheim"
    # Where the place is taken (two groups in one town), the whole name; then a number.
    assert short_slug("Bürgerstiftung Seestadt", {"seestadt"}) == "buergerstiftung-seestadt"
    taken = {"seestadt", "buergerstiftung-seestadt"}
    assert short_slug("Bürgerstiftung Seestadt", taken) == "buergerstiftung-seestadt-2"
    assert short_slug("Engagierte Stadt", set()) == "engagierte-stadt"  # nothing but shared words


def test_addresses_compare_as_the_same_place() -> None:
    same = {
        "https://www.example.org/feed/",
        "http://example.org/feed",
        "HTTPS://Example.org:443/feed/#top",
        "webcal://example.org/feed",
    }
    assert {address_key(url) for url in same} == {"example.org/feed"}
    assert address_key("https://example.org/feed?lang=de") != address_key(
        "https://example.org/feed"
    )


def test_every_feed_becomes_a_group_with_its_folder_as_region() -> None:
    there = Network(
        name="N",
        sites=(
            Site(
                slug="netz", name="Netzwerk ohne Ordner",
                sources=(SourceConfig(name="feed", kind="feed", options=(("url", "https://other.example/"),)),),
            ),
            Site(
                slug="bd", name="Bad Dürkheim",
                sources=(SourceConfig(name="feed", kind="feed", options=(("url", "http://bad-duerkheim.example.org/feed.atom/"),)),),
            ),
        ),
    )  # fmt: skip
    groups, skipped = groups_from_opml(OPML, there)
    assert [(g.slug, g.name, g.region, g.homepage) for g in groups] == [
        (
            "kaiserslautern",
            "Engagierte Stadt Kaiserslautern",
            "Rheinland-Pfalz",
            "https://www.example.org/kaiserslautern/",
        ),
    ]
    assert skipped == [
        "Bürgerstiftung Bad Dürkheim (https://bad-duerkheim.example.org/feed.atom):"
        " http://bad-duerkheim.example.org/feed.atom/ is read already, for bd (Bad Dürkheim)",
        "Netzwerk ohne Ordner (https://netz.example.org/rss):"
        " a group of that name is there already: netz (Netzwerk ohne Ordner)",
    ]


def test_an_opml_file_with_entities_is_refused() -> None:
    bomb = b"""<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">
    <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
    <opml><body><outline text="&b;" xmlUrl="https://example.org/feed"/></body></opml>"""
    with pytest.raises(ValueError, match="declares XML entities"):
        groups_from_opml(bomb, None)


def test_import_writes_groups_that_load(tmp_path: Path) -> None:
    config = tmp_path / "sites.toml"
    config.write_text('[network]\nname = "N"\n\n[[sites]]\nslug = "a"\nname = "A"\n')
    opml = tmp_path / "groups.opml"
    opml.write_bytes(OPML)
    done = _cli("--config", str(config), "import-opml", str(opml))
    assert done.returncode == 0, done.stderr
    assert "added 3 groups" in done.stdout
    sites = load_config(config).network.sites
    assert [s.slug for s in sites] == ["a", "kaiserslautern", "bad-duerkheim", "ohne-ordner"]
    assert [(c.kind, c.options_dict["url"]) for c in sites[1].sources] == [
        ("feed", "https://www.example.org/kaiserslautern/feed/")
    ]
    # Again: every group exists, nothing is added and the file stays as it was.
    before = config.read_text()
    again = _cli("--config", str(config), "import-opml", str(opml))
    assert again.returncode == 1
    assert "no new feeds" in again.stderr
    assert config.read_text() == before


@pytest.mark.parametrize("body", [b"", b"<opml><body>", b"\xff\xfe"])
def test_a_broken_file_is_refused_in_words(tmp_path: Path, body: bytes) -> None:
    opml = tmp_path / "broken.opml"
    opml.write_bytes(body)
    done = _cli("--config", str(tmp_path / "sites.toml"), "import-opml", str(opml))
    assert done.returncode == 2
    assert "not an OPML file" in done.stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feeds.cli", *args],
        env={**os.environ, **LOCAL_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_names_are_written_as_people_write_them(tmp_path: Path) -> None:
    """Umlauts and emoji as text in sites.toml (an emoji once became a surrogate pair
    that TOML refuses, and aborted the whole import)."""
    config = tmp_path / "sites.toml"
    config.write_text('[network]\nname = "N"\n\n[[sites]]\nslug = "a"\nname = "A"\n')
    opml = tmp_path / "groups.opml"
    opml.write_bytes(OPML.replace(b"Netzwerk ohne Ordner", "Sommerfest 🎉 im Park".encode()))
    done = _cli("--config", str(config), "import-opml", str(opml))
    assert done.returncode == 0, done.stderr
    text = config.read_text(encoding="utf-8")
    assert 'name = "Sommerfest 🎉 im Park"' in text
    assert 'name = "Bürgerstiftung Bad Dürkheim"' in text
    assert "\\u" not in text
    names = [s.name for s in load_config(config).network.sites]
    assert "Sommerfest 🎉 im Park" in names
