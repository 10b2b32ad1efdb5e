"""The request is one transaction: services flush, this commits once, then domain events go out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from kohtaamo.bus import Bus, discard
from kohtaamo.config import Settings


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    bus: Bus = request.app.state.bus
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            discard(session)
            await session.rollback()
            raise
    await bus.deliver(session)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# scope="function": commit (and its failure) happens before the response is sent, never after.
DB = Annotated[AsyncSession, Depends(get_db, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings)]
