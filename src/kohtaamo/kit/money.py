"""Decimal prices from other systems ("123.45") to integer minor units, by the currency's exponent
(ISO 4217): most have 2 decimals, a few none (JPY) or 3 (KWD)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
THREE_DECIMAL = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])


def exponent(currency: str) -> int:
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def to_minor(amount: object, currency: str) -> int:
    """`to_minor("123.45", "EUR") == 12345`; raises ValueError for what is not a price."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not an amount") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{amount!r} is not a non-negative amount")
    return int((value * (10 ** exponent(currency))).quantize(Decimal(1), rounding=ROUND_HALF_UP))
