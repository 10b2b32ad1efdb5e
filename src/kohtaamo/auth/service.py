"""Users, credentials, sessions and memberships. Services flush; the caller's transaction commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.auth.models import AuthSession, Membership, Role, User
from kohtaamo.auth.passwords import MIN_LENGTH, hash_password, verify_password
from kohtaamo.bus import Event, publish
from kohtaamo.kit.clock import utcnow
from kohtaamo.kit.errors import Conflict, Invalid, NotFound, RateLimited
from kohtaamo.kit.ratelimit import RateLimiter
from kohtaamo.kit.tokens import new_token, token_hash

TOKEN_PREFIX = {"cookie": "kss", "bearer": "kat"}
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(slots=True)
class Principal:
    user: User
    auth: AuthSession


async def create_user(
    session: AsyncSession, *, email: str, name: str, password: str, locale: str = "en"
) -> User:
    email = email.strip().lower()
    if len(password) < MIN_LENGTH:
        raise Invalid(f"must be at least {MIN_LENGTH} characters", field="password")
    if await get_user_by_email(session, email) is not None:
        raise Conflict("a user with this email exists", field="email")
    user = User(
        email=email,
        name=name.strip(),
        password_hash=await hash_password(password),
        locale=locale,
        is_active=True,
        created_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    return user


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    stmt = select(User).where(User.email == email.strip().lower())
    return (await session.execute(stmt)).scalar_one_or_none()


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User | None:
    user = await get_user_by_email(session, email)
    ok = await verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        return None
    user.last_login_at = utcnow()
    await session.flush()
    return user


async def start_session(
    session: AsyncSession, *, user: User, kind: str, days: int, label: str = ""
) -> tuple[str, AuthSession]:
    """A new cookie session or bearer token; the clear token is returned once, never stored."""
    token = new_token(TOKEN_PREFIX[kind], 32)
    now = utcnow()
    row = AuthSession(
        user_id=user.id,
        kind=kind,
        token_hash=token_hash(token),
        csrf_token=new_token("csrf", 24) if kind == "cookie" else None,
        label=label,
        created_at=now,
        expires_at=now + timedelta(days=days),
        last_used_at=now,
    )
    session.add(row)
    await session.flush()
    return token, row


async def resolve(session: AsyncSession, token: str, *, kind: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX[kind] + "_"):
        return None
    stmt = (
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_hash == token_hash(token), AuthSession.kind == kind)
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    auth, user = row
    now = utcnow()
    if auth.revoked_at is not None or auth.expires_at <= now or not user.is_active:
        return None
    if auth.last_used_at is None or now - auth.last_used_at > TOUCH_EVERY:
        auth.last_used_at = now
        await session.flush()
    return Principal(user=user, auth=auth)


async def end_session(session: AsyncSession, auth: AuthSession) -> None:
    auth.revoked_at = utcnow()
    await session.flush()


async def role_in(session: AsyncSession, *, user_id: int, workspace_id: int) -> Role | None:
    stmt = select(Membership.role).where(
        Membership.user_id == user_id, Membership.workspace_id == workspace_id
    )
    role = (await session.execute(stmt)).scalar_one_or_none()
    return Role(role) if role else None


async def workspace_ids_of(session: AsyncSession, user_id: int) -> list[int]:
    stmt = select(Membership.workspace_id).where(Membership.user_id == user_id)
    return list((await session.execute(stmt)).scalars())


async def add_member(
    session: AsyncSession, *, workspace_id: int, user: User, role: Role
) -> Membership:
    if await role_in(session, user_id=user.id, workspace_id=workspace_id) is not None:
        raise Conflict("this user is already a member", field="email")
    member = Membership(
        user_id=user.id, workspace_id=workspace_id, role=role.value, created_at=utcnow()
    )
    session.add(member)
    await session.flush()
    return member


async def list_members(session: AsyncSession, workspace_id: int) -> list[tuple[Membership, User]]:
    stmt = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(User.email)
    )
    return [(m, u) for m, u in (await session.execute(stmt)).all()]


async def _membership(session: AsyncSession, workspace_id: int, user_id: int) -> Membership:
    member = await session.get(Membership, (user_id, workspace_id))
    if member is None:
        raise NotFound("no such member", field="user_id")
    return member


async def _owners(session: AsyncSession, workspace_id: int) -> int:
    """Owners of the workspace, counted under a lock so two owners cannot both step down at once."""
    mine = (Membership.workspace_id == workspace_id, Membership.role == Role.owner.value)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(Membership.user_id).where(*mine).with_for_update())
    else:
        # SQLite: a no-op write takes the database's write lock before we count.
        await session.execute(update(Membership).where(*mine).values(role=Membership.role))
    stmt = select(func.count()).where(
        Membership.workspace_id == workspace_id, Membership.role == Role.owner.value
    )
    return int((await session.execute(stmt)).scalar_one())


async def change_role(
    session: AsyncSession, *, workspace_id: int, user_id: int, role: Role
) -> Membership:
    member = await _membership(session, workspace_id, user_id)
    if (
        member.role == Role.owner
        and role != Role.owner
        and await _owners(session, workspace_id) <= 1
    ):
        raise Conflict("a workspace keeps at least one owner", field="role")
    member.role = role.value
    await session.flush()
    return member


@dataclass(frozen=True, slots=True)
class MemberRemoved(Event):
    """A member was removed: what they hold open in the workspace (agent sockets) ends at once."""

    user_id: int


async def remove_member(session: AsyncSession, *, workspace_id: int, user_id: int) -> None:
    member = await _membership(session, workspace_id, user_id)
    if member.role == Role.owner and await _owners(session, workspace_id) <= 1:
        raise Conflict("a workspace keeps at least one owner", field="user_id")
    await session.delete(member)
    # Their open sessions keep working for other workspaces; access here ends with the row
    # (HTTP checks it per request; live sockets hear this event).
    await session.flush()
    publish(session, MemberRemoved(workspace_id, user_id))


async def revoke_all_sessions(session: AsyncSession, user_id: int) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def throttle_login(
    limiter: RateLimiter, *, ip: str, email: str, attempts: int, window_seconds: int
) -> None:
    """Per IP first (cheap refusals must not create per-account buckets), then per (IP, email)."""
    rate = attempts / window_seconds
    email = email.strip().lower()
    for key, burst in ((f"login-ip:{ip}", attempts * 5), (f"login:{ip}:{email}", attempts)):
        verdict = await limiter.hit(key, rate=rate * (burst / attempts), burst=burst)
        if not verdict.allowed:
            raise RateLimited(
                "too many login attempts; try again later", retry_after=verdict.retry_after
            )
