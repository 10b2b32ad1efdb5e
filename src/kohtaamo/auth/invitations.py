"""Invitations: offer a role by email; only the person with that email can accept it.

Inviting answers the same whether or not the email belongs to anyone, so a workspace admin can't
use it to find out who has an account, nor put anyone into a workspace without their consent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.auth.models import Invitation, Membership, Role, User

__all__ = [
    "Invitation",
    "accept",
    "decline",
    "invite",
    "open_for_user",
    "open_for_workspace",
    "withdraw",
]
from kohtaamo.auth.service import role_in
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import NotFound

VALID_FOR = timedelta(days=14)


def _open() -> tuple[ColumnElement[bool], ...]:
    return (
        Invitation.accepted_at.is_(None),
        Invitation.closed_at.is_(None),
        Invitation.expires_at > utcnow(),
    )


async def invite(
    session: AsyncSession, *, workspace_id: int, email: str, role: Role, invited_by: int
) -> Invitation:
    """A new open invitation; an open one for the same email is replaced (role, expiry)."""
    email = email.strip().lower()
    now = utcnow()
    stmt = select(Invitation).where(
        Invitation.workspace_id == workspace_id, Invitation.email == email, *_open()
    )
    for old in (await session.execute(stmt)).scalars():
        old.closed_at = now
    inv = Invitation(
        workspace_id=workspace_id,
        email=email,
        role=role.value,
        invited_by=invited_by,
        created_at=now,
        expires_at=now + VALID_FOR,
    )
    session.add(inv)
    await session.flush()
    return inv


async def open_for_workspace(session: AsyncSession, workspace_id: int) -> list[Invitation]:
    stmt = (
        select(Invitation)
        .where(Invitation.workspace_id == workspace_id, *_open())
        .order_by(Invitation.created_at)
    )
    return list((await session.execute(stmt)).scalars())


async def open_for_user(session: AsyncSession, user: User) -> list[Invitation]:
    stmt = (
        select(Invitation).where(Invitation.email == user.email, *_open()).order_by(Invitation.id)
    )
    return list((await session.execute(stmt)).scalars())


async def _mine(session: AsyncSession, invitation_id: int, user: User) -> Invitation:
    inv = await session.get(Invitation, invitation_id)
    if inv is None or inv.email != user.email or inv.accepted_at or inv.closed_at:
        raise NotFound("no such open invitation for you", field="invitation_id")
    if inv.expires_at <= utcnow():
        raise NotFound("this invitation has expired; ask for a new one", field="invitation_id")
    return inv


async def accept(session: AsyncSession, *, invitation_id: int, user: User) -> Membership | None:
    """Join the workspace. Already a member: the invitation closes and the role stays."""
    inv = await _mine(session, invitation_id, user)
    inv.accepted_at = utcnow()
    member = None
    if await role_in(session, user_id=user.id, workspace_id=inv.workspace_id) is None:
        member = Membership(
            user_id=user.id, workspace_id=inv.workspace_id, role=inv.role, created_at=utcnow()
        )
        session.add(member)
    await session.flush()
    return member


async def decline(session: AsyncSession, *, invitation_id: int, user: User) -> None:
    inv = await _mine(session, invitation_id, user)
    inv.closed_at = utcnow()
    await session.flush()


async def withdraw(session: AsyncSession, *, workspace_id: int, invitation_id: int) -> None:
    inv = await session.get(Invitation, invitation_id)
    if inv is None or inv.workspace_id != workspace_id or inv.accepted_at or inv.closed_at:
        raise NotFound("no such open invitation", field="invitation_id")
    inv.closed_at = utcnow()
    await session.flush()
