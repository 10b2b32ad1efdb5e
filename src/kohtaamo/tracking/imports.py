"""Event logs from elsewhere as tracking batches, sent through the same `/api/v1/track` as any
shop's server sends: the REES46 e-commerce log (view / cart / purchase rows; REES46 / Open CDP,
attribution requested) is the one we take today."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kohtaamo.kit.money import to_minor

NAMESPACE = uuid.UUID("6f1d3b8e-4d0c-4c7b-9a61-8f3e2b1a0c55")
KINDS = {"view", "cart", "purchase"}


def _ms(text: str) -> int:
    at = datetime.strptime(text.removesuffix(" UTC"), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return int(at.timestamp() * 1000)


def rees46_events(
    path: Path, *, host: str = "https://rees46.example"
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(visitor_id, visit_id, event) per row, with ids fixed by the row: a re-import stores nothing twice."""
    with path.open(newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh)):
            kind = row["event_type"]
            if kind not in KINDS:
                continue
            product = row["product_id"]
            category = row["category_code"] or row["category_id"] or None
            price = to_minor(row["price"] or 0, "USD")
            if kind == "view":
                etype, props = (
                    "page_view",
                    {
                        "url": f"{host}/products/{product}",
                        "page_type": "product",
                        "product_id": product,
                        "category": category,
                    },
                )
            elif kind == "cart":
                etype, props = (
                    "cart_add",
                    {
                        "product_id": product,
                        "category": category,
                        "unit_price": price,
                        "currency": "USD",
                    },
                )
            else:
                etype, props = (
                    "purchase",
                    {
                        "order_id": f"{row['user_session']}:{product}:{n}",
                        "value": price,
                        "currency": "USD",
                    },
                )
            event = {
                "id": str(uuid.uuid5(NAMESPACE, f"{n}:{row['user_session']}:{kind}:{product}")),
                "type": etype,
                "ts": _ms(row["event_time"]),
                "props": {k: v for k, v in props.items() if v is not None},
            }
            yield row["user_id"], row["user_session"], event


def batches(
    rows: Iterator[tuple[str, str, dict[str, Any]]], size: int = 500
) -> Iterator[dict[str, Any]]:
    """Tracking batches: one visitor and visit each (as a batch is), at most `size` events; a
    visit's events are gathered first (a log interleaves everyone's)."""
    ordered = sorted(rows, key=lambda r: (r[0], r[1]))  # stable: each visit keeps its order
    current: dict[str, Any] | None = None
    for visitor, visit, event in ordered:
        if (
            current is None
            or (current["visitor_id"], current["visit_id"]) != (visitor, visit)
            or len(current["events"]) >= size
        ):
            if current is not None:
                yield current
            current = {"visitor_id": visitor, "visit_id": visit, "events": []}
        current["events"].append(event)
    if current is not None:
        yield current
