"""sites.toml: the demo loads; every mistake names file, line, key and what is expected."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from feeds.config import ConfigError, Settings, load_config, parse_interval

GOOD = """\
[network]
name = "Engagierte Stadt"

[[sites]]
slug = "kaiserslautern"
name = "Engagierte Stadt Kaiserslautern"

[[sites.sources]]
name = "demo"
kind = "files"
path = "items"
interval = "30m"
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "items").mkdir(exist_ok=True)
    path = tmp_path / "sites.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_demo_config_loads() -> None:
    config = load_config(Path(__file__).parent.parent / "sites.toml")
    assert [s.slug for s in config.network.sites] == ["kaiserslautern", "musterstadt"]
    assert set(config.sources) == {("kaiserslautern", "demo"), ("musterstadt", "demo")}


def test_a_good_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    [site] = config.network.sites
    assert site.timezone == "Europe/Berlin"
    assert site.sources[0].interval == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("change", "line", "key", "message"),
    [
        (
            ('kind = "files"', 'kind = "wordpres"'),
            10,
            "sites[0].sources[0].kind",
            "unknown source kind 'wordpres'",
        ),
        (('path = "items"', 'path = "nowhere"'), 11, "sites[0].sources[0].path", "is not a folder"),
        (
            ('interval = "30m"', 'interval = "often"'),
            12,
            "sites[0].sources[0].interval",
            "expected a duration",
        ),
        (('interval = "30m"', 'interval = "10s"'), 12, "sites[0].sources[0].interval", "at least"),
        (('slug = "kaiserslautern"', 'slug = "Kaisers Lautern"'), 5, "sites[0].slug", "lowercase"),
        (('slug = "kaiserslautern"', 'slug = "network"'), 5, "sites[0].slug", "not one of"),
        (
            ('name = "demo"', 'name = "demo"\ncolour = "red"'),
            10,
            "sites[0].sources[0].colour",
            "not an option",
        ),
        (
            ('name = "Engagierte Stadt Kaiserslautern"', 'timezone = "Mars/Olympus"'),
            6,
            "sites[0].timezone",
            "unknown time zone",
        ),
        (('kind = "files"', "kind = 3"), 10, "sites[0].sources[0].kind", "non-empty string"),
        (
            ('name = "Engagierte Stadt Kaiserslautern"', 'homepage = "javascript:alert(1)"'),
            6,
            "sites[0].homepage",
            "expected an http(s) address",
        ),
        (
            ('name = "Engagierte Stadt"', 'name = "N"\nhomepage = "data:text/html,x"'),
            3,
            "network.homepage",
            "expected an http(s) address",
        ),
    ],
)
def test_mistakes_name_line_and_key(
    tmp_path: Path, change: tuple[str, str], line: int, key: str, message: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert (error.line, error.key) == (line, key)
    assert message in str(error)
    assert str(error).startswith(f"{path}:{line}: {key}: ")


def test_syntax_errors_carry_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('name = "demo"', 'name = "demo'))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == 9


def test_a_missing_file_and_a_network_without_sites(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "nothing.toml")
    # No group yet: a network being set up, which `feeds add` writes its first group into.
    assert load_config(write(tmp_path, '[network]\nname = "x"\n')).network.sites == ()
    # A misspelt table is not taken for "no groups".
    with pytest.raises(ConfigError, match="did you mean 'sites'"):
        load_config(write(tmp_path, '[network]\nname = "x"\n\n[[site]]\nslug = "a"\n'))


def test_duplicate_slugs(tmp_path: Path) -> None:
    text = GOOD + GOOD.split("\n", 2)[2].replace("[network]", "")
    with pytest.raises(ConfigError, match="used twice") as caught:
        load_config(write(tmp_path, text))
    assert caught.value.line == 15  # the second slug line


def test_intervals() -> None:
    assert parse_interval("2h") == timedelta(hours=2)
    assert parse_interval(20) == timedelta(minutes=20)
    with pytest.raises(ValueError, match="duration"):
        parse_interval(True)


def test_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "PORT": "9000",
            "FEEDS_BASE_URL": "https://feeds.example.org/",
            "DATABASE_URL": "sqlite:///x.db",
        }
    )
    assert (settings.port, settings.base_url, settings.database_url) == (
        9000,
        "https://feeds.example.org",
        "sqlite:///x.db",
    )
    assert Settings.from_env({}).database_url == "sqlite:///feeds.sqlite3"
    with pytest.raises(ValueError, match="PORT"):
        Settings.from_env({"PORT": "eighty"})
