"""Turn a /track body into checked rows, or a 4xx that names every bad event by index and field.

Policy (ADR 0004): a batch is stored whole or not at all. If any event is invalid, nothing is
stored and the answer lists each bad event, so the client can drop exactly those and re-send the
rest under the same ids (harmless, they are deduplicated).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from kohtaamo.kit import jsonx
from kohtaamo.kit.clock import from_epoch_ms
from kohtaamo.kit.errors import BadRequest, Invalid
from kohtaamo.tracking.schemas import CUSTOM, PROPS, DecideRequest, RawEvent, TrackBatch

MIN_TS = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
NEWSLETTER_PARAMS = ("nl", "nlid", "newsletter_id", "mc_cid")


@dataclass(slots=True)
class Checked:
    id: uuid.UUID
    type: str
    ts: datetime
    props: dict[str, Any]
    clamped: bool


@dataclass(slots=True)
class Landing:
    url: str | None = None
    referrer: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    newsletter_id: str | None = None


@dataclass(slots=True)
class Intake:
    site_key: str | None
    visitor_key: str
    visit_key: str
    events: list[Checked]
    landing: Landing | None = None
    customer_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    sent_at: float | None = None  # epoch seconds, the sender's clock


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _errors(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[dict[str, Any]]:
    return [{"field": _loc(prefix + tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]


def parse_body(body: bytes) -> Any:
    if not body.strip():
        raise BadRequest("the body is empty; send a JSON object", field="body")
    try:
        return jsonx.loads(body)
    except jsonx.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", field="body") from None


def read_envelope(payload: Any, *, max_events: int) -> TrackBatch:
    if not isinstance(payload, dict):
        raise Invalid("the body must be a JSON object", field="body")
    events = payload.get("events")
    if isinstance(events, list) and len(events) > max_events:
        raise Invalid(f"at most {max_events} events per batch, got {len(events)}", field="events")
    try:
        return TrackBatch.model_validate(payload)
    except ValidationError as exc:
        errs = _errors(exc)
        raise Invalid(errs[0]["message"], field=errs[0]["field"], errors=errs) from None


def read_decide(payload: Any) -> DecideRequest:
    if not isinstance(payload, dict):
        raise Invalid("the body must be a JSON object", field="body")
    try:
        return DecideRequest.model_validate(payload)
    except ValidationError as exc:
        errs = _errors(exc)
        raise Invalid(errs[0]["message"], field=errs[0]["field"], errors=errs) from None


MAX_TS_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def _ts(raw: object, now: datetime, skew: timedelta) -> tuple[datetime, bool]:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("must be epoch milliseconds or an ISO 8601 time with a zone")
    if isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be epoch milliseconds or an ISO 8601 time") from None
        if ts.tzinfo is None:
            raise ValueError("an ISO 8601 time needs a zone, e.g. 2026-01-01T12:00:00Z")
    else:
        if not raw >= 946_684_800_000:  # 2000-01-01 in ms; also refuses NaN
            raise ValueError("must be epoch milliseconds (a number this small is not)")
        if raw > MAX_TS_MS:
            raise ValueError("is too large for a time in epoch milliseconds")
        ts = from_epoch_ms(float(raw))
    if ts < MIN_TS:
        raise ValueError("is before the year 2000")
    if ts > now + skew:
        return now, True  # the client's clock runs ahead: keep the event, flag the time
    return ts, False


def check_events(
    batch: TrackBatch,
    *,
    now: datetime,
    future_skew: timedelta,
    max_props_bytes: int,
    may_hold_nul: bool = True,
) -> Intake:
    """`may_hold_nul=False` when the raw body has no `\\u0000` (JSON's only way to carry a NUL)."""
    intake = Intake(batch.site_key, batch.visitor_id, batch.visit_id, [])
    if batch.sent_at is not None:
        try:
            intake.sent_at = _ts(batch.sent_at, now, timedelta(days=3650))[0].timestamp()
        except ValueError as exc:
            intake.errors.append({"index": None, "field": "sent_at", "message": str(exc)})
    for i, item in enumerate(batch.events):
        where: tuple[int | str, ...] = ("events", i)
        if not isinstance(item, dict):
            intake.errors.append({"index": i, "field": _loc(where), "message": "must be an object"})
            continue
        nul = find_nul(item) if may_hold_nul else None
        if nul is not None:
            intake.errors.append(
                {
                    "index": i,
                    "field": _loc((*where, *nul)),
                    "message": "contains a NUL character (\\u0000)",
                }
            )
            continue
        try:
            raw = RawEvent.model_validate(item)
        except ValidationError as exc:
            intake.errors += [dict(index=i, **e) for e in _errors(exc, where)]
            continue
        try:
            ts, clamped = _ts(raw.ts, now, future_skew)
        except ValueError as exc:
            intake.errors.append({"index": i, "field": _loc((*where, "ts")), "message": str(exc)})
            continue
        props_model = PROPS.get(raw.type)
        if props_model is not None:
            try:
                props = props_model.model_validate(raw.props).model_dump(
                    mode="json", exclude_none=True
                )
            except ValidationError as exc:
                intake.errors += [dict(index=i, **e) for e in _errors(exc, (*where, "props"))]
                continue
        elif CUSTOM.match(raw.type):
            props = raw.props
        else:
            intake.errors.append(
                {
                    "index": i,
                    "field": _loc((*where, "type")),
                    "message": f"unknown event type {raw.type!r}; "
                    "use a built-in type or custom:<name> (lowercase, digits, _ . -)",
                }
            )
            continue
        try:
            size = len(jsonx.dumps(props))
        except TypeError:  # e.g. nested deeper than the encoder allows
            size = max_props_bytes + 1
        if size > max_props_bytes:
            intake.errors.append(
                {
                    "index": i,
                    "field": _loc((*where, "props")),
                    "message": f"props are larger than {max_props_bytes} bytes as JSON "
                    "(or nested too deeply)",
                }
            )
            continue
        intake.events.append(Checked(raw.id, raw.type, ts, props, clamped))
    if intake.errors:
        n = len({e["index"] for e in intake.errors})
        first = intake.errors[0]
        raise Invalid(
            f"{n} invalid event(s); nothing in this batch was stored. {first['field']}: "
            f"{first['message']}",
            field=first["field"],
            index=first["index"],
            errors=intake.errors,
        )
    intake.events.sort(key=lambda e: e.ts)  # stable: same-time events keep the client's order
    intake.landing = _landing(intake.events)
    for ev in intake.events:
        if ev.type == "identify":
            intake.customer_id = ev.props["customer_id"]
    return intake


def campaign(url: str) -> dict[str, str]:
    """UTM source/medium/campaign and a newsletter link id from a landing URL's query."""
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return {}
    out: dict[str, str] = {}
    for name in ("utm_source", "utm_medium", "utm_campaign"):
        if query.get(name):
            out[name.removeprefix("utm_")] = query[name][0].replace("\x00", "")[:256]
    for name in NEWSLETTER_PARAMS:
        if query.get(name):
            out["newsletter_id"] = query[name][0].replace("\x00", "")[:256]
            break
    return out


def find_nul(value: Any, path: tuple[int | str, ...] = ()) -> tuple[int | str, ...] | None:
    """Path of the first string (key or value) holding a NUL, which PostgreSQL cannot store."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            if "\x00" in k:
                return (*path, k.replace("\x00", "\\u0000"))
            found = find_nul(v, (*path, k))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = find_nul(v, (*path, i))
            if found is not None:
                return found
    return None


def _landing(events: list[Checked]) -> Landing | None:
    for ev in events:
        if ev.type == "page_view":
            c = campaign(ev.props["url"])
            return Landing(
                url=ev.props["url"],
                referrer=ev.props.get("referrer"),
                utm_source=c.get("source"),
                utm_medium=c.get("medium"),
                utm_campaign=c.get("campaign"),
                newsletter_id=c.get("newsletter_id"),
            )
    return None
