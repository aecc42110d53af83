"""What an event costs, from what event plugins and pages give: The Events Calendar's
`cost` and `cost_details`, schema.org's `offers`. Amounts are written as German readers
write them ("3,50 €"); the currency is kept as its ISO code for calendars and search
engines."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from feeds.model import Price
from feeds.sanitize import plain_text

SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "CHF": "CHF", "Fr.": "CHF"}
SHOWN = {"EUR": "€", "USD": "$", "GBP": "£"}  # others as their code: "8 CHF"
FREE_WORDS = ("free", "frei", "kostenlos", "gratis", "umsonst", "gratuito", "0 €", "0€")
_NUMBER = re.compile(r"^[\s0-9.,\-–—]+$")  # amounts alone, a range too: "3", "5 – 10"
_AMOUNTS = re.compile(r"[0-9]+(?:[.,][0-9]{1,2})?")


def german_amount(value: str) -> str | None:
    """'3' -> '3', '3.5' -> '3,50', '12.00' -> '12'; None for what is no amount."""
    try:
        number = Decimal(value.strip().replace(",", "."))
    except InvalidOperation:
        return None
    if number < 0 or number > 100_000:
        return None
    if number == number.to_integral():
        return str(int(number))
    return f"{number:.2f}".replace(".", ",")


def _with_symbol(amount: str, symbol: str, prefix: bool) -> str:
    if not symbol:
        return amount
    return f"{symbol}{amount}" if prefix else f"{amount} {symbol}"


def tribe_price(raw: dict[str, Any]) -> Price | None:
    """The Events Calendar: `cost` as the site shows it ("12 €", "Free", or only "3"), and
    `cost_details` (`values`, `currency_symbol`, `currency_code`, `currency_position`)."""
    cost = plain_text(str(raw.get("cost") or "")).strip()
    given = raw.get("cost_details")
    details: dict[str, Any] = given if isinstance(given, dict) else {}
    values = [str(v) for v in details.get("values") or [] if str(v).strip()]
    symbol = plain_text(str(details.get("currency_symbol") or "")).strip()
    code = str(details.get("currency_code") or "").strip().upper() or SYMBOLS.get(symbol)
    prefix = details.get("currency_position") == "prefix"
    if not cost and not values:
        return None
    amounts = [a for a in (german_amount(v) for v in values) if a is not None]
    free = cost.casefold() in FREE_WORDS or (bool(amounts) and set(amounts) == {"0"})
    if free:
        return Price(text=cost if cost and not _NUMBER.match(cost) else "kostenlos",
                     amount="0", currency=code, free=True)  # fmt: skip
    if cost and not _NUMBER.match(cost):  # the site wrote it with its currency, or in words
        lowest = _lowest(values) or _lowest(_AMOUNTS.findall(cost))
        return Price(text=cost, amount=lowest, currency=code or _currency_in(cost))
    alone = german_amount(cost)
    numbers = amounts or ([alone] if alone else [])
    if not numbers:
        return None
    shown = numbers[0] if len(numbers) == 1 else f"{numbers[0]}–{numbers[-1]}"
    return Price(text=_with_symbol(shown, symbol, prefix), amount=_lowest(values or [cost]),
                 currency=code)  # fmt: skip


def offer_price(offers: Any) -> Price | None:
    """schema.org `offers` (an Offer, AggregateOffer or a list): price and priceCurrency."""
    found = offers[0] if isinstance(offers, list) and offers else offers
    if not isinstance(found, dict):
        return None
    raw = found.get("price", found.get("lowPrice"))
    currency = str(found.get("priceCurrency") or "").strip().upper() or None
    amount = german_amount(str(raw)) if raw is not None else None
    if amount is None:
        return None
    if amount == "0":
        return Price(text="kostenlos", amount="0", currency=currency, free=True)
    symbol = SHOWN.get(currency or "", currency or "")
    return Price(text=_with_symbol(amount, symbol, False), amount=_dot(amount),
                 currency=currency)  # fmt: skip


def _lowest(values: list[str]) -> str | None:
    numbers = []
    for value in values:
        try:
            numbers.append(Decimal(value.strip().replace(",", ".")))
        except InvalidOperation:
            continue
    return _dot(german_amount(str(min(numbers)))) if numbers else None


def _dot(amount: str | None) -> str | None:
    """schema.org writes a price with a dot: '3,50' -> '3.50'."""
    return amount.replace(",", ".") if amount else None


def _currency_in(text: str) -> str | None:
    return next((code for symbol, code in SYMBOLS.items() if symbol in text), None)
