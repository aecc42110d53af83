# The two quick-start commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
export FEEDS_CONFIG ?= sites.toml

.PHONY: run test lint bench bench-scale clean chromium printing wrk

$(BIN)/feeds: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/feeds
	$(BIN)/feeds serve --host 127.0.0.1 --port $(PORT)

# ical.js (the parser Thunderbird uses) checks our calendars, axe-core our pages' accessibility;
# without Node.js the ical.js checks skip (the browser tests need axe-core under CI).
ICALJS := tests/js/node_modules/.installed
$(ICALJS): tests/js/package.json
	@if command -v npm >/dev/null 2>&1; then \
		npm install --prefix tests/js --no-package-lock --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the ical.js checks will be skipped"; fi

# The browser tests drive Debian's Chromium through Playwright (no browser download).
# As root with apt-get (CI, the dev machine) it is installed here; elsewhere those tests
# skip and say why.
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium not found and not root: the browser tests will be skipped"; fi

# The programme's PDF needs Pango (WeasyPrint); its tests read it with poppler's pdftotext.
# As root with apt-get they are installed here; elsewhere the PDF answers 503 and says why,
# and those tests skip.
printing:
	@if command -v pdftotext >/dev/null 2>&1 && ldconfig -p | grep -q libpangoft2; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Pango and poppler-utils for the printable programme"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			libpango-1.0-0 libpangoft2-1.0-0 poppler-utils >/dev/null; \
	else echo "Pango or pdftotext not found and not root: the PDF tests will be skipped"; fi

lint: $(BIN)/feeds
	$(BIN)/ruff check feeds sources tests bench
	$(BIN)/ruff format --check feeds sources tests bench
	$(BIN)/mypy

test: lint $(ICALJS) chromium printing
	$(BIN)/pytest

# wrk (Debian's package) measures the server from another core; installed here as root.
wrk:
	@if command -v wrk >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	else echo "wrk not found and not root: the HTTP benchmark will say so and be skipped"; fi

bench: $(BIN)/feeds wrk
	$(BIN)/python -m bench

# The network at 112, 1,120 and 11,200 groups on PostgreSQL (FEEDS_BENCH_DATABASE_URL,
# else FEEDS_TEST_DATABASE_URL, else the local server's `test`): about ten minutes.
bench-scale: $(BIN)/feeds
	$(BIN)/python -m bench.scale

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/js/node_modules feeds.sqlite3*
