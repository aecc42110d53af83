"""What an event costs, as The Events Calendar and schema.org give it, written as a German
reader reads it and kept as data for calendars and search engines."""

from __future__ import annotations

from typing import Any

import pytest

from feeds.model import Price
from sources.prices import offer_price, tribe_price

EURO = {"currency_symbol": "€", "currency_code": "EUR", "currency_position": "postfix"}


@pytest.mark.parametrize(
    ("raw", "price"),
    [
        ({"cost": "3", "cost_details": {**EURO, "values": ["3"]}},
         Price(text="3 €", amount="3", currency="EUR")),
        ({"cost": "3.5", "cost_details": {**EURO, "values": ["3.5"]}},
         Price(text="3,50 €", amount="3.50", currency="EUR")),
        ({"cost": "5 – 10", "cost_details": {**EURO, "values": ["5", "10"]}},
         Price(text="5–10 €", amount="5", currency="EUR")),
        ({"cost": "12 €", "cost_details": {**EURO, "values": []}},
         Price(text="12 €", amount="12", currency="EUR")),
        ({"cost": "$25", "cost_details": {"currency_symbol": "", "currency_position": "prefix",
                                          "values": ["25"]}},
         Price(text="$25", amount="25", currency="USD")),
        ({"cost": "Free", "cost_details": {"values": ["free"]}},
         Price(text="Free", amount="0", currency=None, free=True)),
        ({"cost": "0", "cost_details": {**EURO, "values": ["0"]}},
         Price(text="kostenlos", amount="0", currency="EUR", free=True)),
        ({"cost": "Spende erbeten", "cost_details": {"values": []}},
         Price(text="Spende erbeten", amount=None, currency=None)),
        ({"cost": "", "cost_details": {**EURO, "values": []}}, None),
    ],
)  # fmt: skip
def test_the_events_calendar_costs(raw: dict[str, Any], price: Price | None) -> None:
    assert tribe_price(raw) == price


@pytest.mark.parametrize(
    ("offers", "price"),
    [
        ({"@type": "Offer", "price": "5", "priceCurrency": "EUR"},
         Price(text="5 €", amount="5", currency="EUR")),
        ([{"@type": "Offer", "price": 7.5, "priceCurrency": "eur"}],
         Price(text="7,50 €", amount="7.50", currency="EUR")),
        ({"@type": "AggregateOffer", "lowPrice": "8", "priceCurrency": "CHF"},
         Price(text="8 CHF", amount="8", currency="CHF")),
        ({"@type": "Offer", "price": "0", "priceCurrency": "EUR"},
         Price(text="kostenlos", amount="0", currency="EUR", free=True)),
        ({"@type": "Offer", "price": "auf Anfrage"}, None),
        ("https://tickets.example/1", None),
    ],
)  # fmt: skip
def test_schema_org_offers(offers: Any, price: Price | None) -> None:
    assert offer_price(offers) == price
