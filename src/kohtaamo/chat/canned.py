"""Canned replies: a workspace's ready answers, per language, typed by shortcut ("/kiitos")."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.chat.models import CannedReply
from kohtaamo.chat.schemas import CannedReplyCreate, CannedReplyUpdate
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import Conflict, NotFound

# What a new workspace starts with (the demo, and `kohtaamo` workspaces): editable like any other.
STARTERS: list[tuple[str, str, str, str]] = [
    ("hei", "fi", "Tervehdys", "Hei! Kiva kun kirjoitit. Miten voin auttaa?"),
    ("hi", "en", "Greeting", "Hi! Thanks for writing. How can I help?"),
    (
        "toimitus",
        "fi",
        "Toimitusajat",
        "Toimitamme 1-3 arkipäivässä. Nouto myymälästä on ilmainen.",
    ),
    (
        "delivery",
        "en",
        "Delivery times",
        "We deliver in 1-3 working days. Pick-up in store is free.",
    ),
    ("kiitos", "fi", "Kiitos", "Kiitos yhteydenotosta! Mukavaa päivänjatkoa."),
    ("thanks", "en", "Thanks", "Thank you for contacting us! Have a great day."),
]


async def list_replies(session: AsyncSession, workspace_id: int) -> list[CannedReply]:
    rows = await session.execute(
        select(CannedReply)
        .where(CannedReply.workspace_id == workspace_id)
        .order_by(CannedReply.locale, CannedReply.shortcut)
    )
    return list(rows.scalars())


async def get_reply(session: AsyncSession, workspace_id: int, reply_id: int) -> CannedReply:
    row = await session.get(CannedReply, reply_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("no such canned reply", field="reply_id")
    return row


async def _taken(session: AsyncSession, workspace_id: int, shortcut: str, locale: str) -> bool:
    found = await session.execute(
        select(CannedReply.id).where(
            CannedReply.workspace_id == workspace_id,
            CannedReply.shortcut == shortcut,
            CannedReply.locale == locale,
        )
    )
    return found.first() is not None


async def create_reply(
    session: AsyncSession, *, workspace_id: int, data: CannedReplyCreate
) -> CannedReply:
    if await _taken(session, workspace_id, data.shortcut, data.locale):
        raise Conflict(f"/{data.shortcut} already exists in {data.locale}", field="shortcut")
    now = utcnow()
    row = CannedReply(
        workspace_id=workspace_id, **data.model_dump(), created_at=now, updated_at=now
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(
            f"/{data.shortcut} already exists in {data.locale}", field="shortcut"
        ) from None
    return row


async def update_reply(
    session: AsyncSession, row: CannedReply, data: CannedReplyUpdate
) -> CannedReply:
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    shortcut = changes.get("shortcut")
    if (
        shortcut
        and shortcut != row.shortcut
        and await _taken(session, row.workspace_id, shortcut, row.locale)
    ):
        raise Conflict(f"/{shortcut} already exists in {row.locale}", field="shortcut")
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    await session.flush()
    return row


async def delete_reply(session: AsyncSession, row: CannedReply) -> None:
    await session.delete(row)
    await session.flush()


async def install_starters(session: AsyncSession, workspace_id: int) -> int:
    added = 0
    for shortcut, locale, title, body in STARTERS:
        if not await _taken(session, workspace_id, shortcut, locale):
            await create_reply(
                session,
                workspace_id=workspace_id,
                data=CannedReplyCreate(shortcut=shortcut, locale=locale, title=title, body=body),
            )
            added += 1
    return added
