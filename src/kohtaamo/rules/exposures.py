"""Exposures are written in group commits: decisions made at the same moment share one
transaction, and each waits until its rows are committed (an exposure is stored before the
widget is told to show anything). One INSERT ... RETURNING per group, no ORM unit of work."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kohtaamo.rules.models import Exposure
from kohtaamo.rules.raw import RawStore

Row = dict[str, Any]


class ExposureLog:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        max_group: int = 500,
        raw: RawStore | None = None,
    ) -> None:
        self._maker = maker
        self._raw = raw  # the tracking writer's raw driver (raw.py); SQLAlchemy without it
        self._max = max_group
        self._pending: list[tuple[list[Row], asyncio.Future[list[int]]]] = []
        self._flushing = False
        self.groups = 0  # transactions written, for tests and the benchmark

    async def write(self, rows: list[Row]) -> list[int]:
        """Store the rows; returns their ids in order. Raises if the group's commit failed."""
        fut: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, fut))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending[: self._max], self._pending[self._max :]
                flat = [row for rows, _ in group for row in rows]
                try:
                    ids = await self._insert(flat)
                except Exception as exc:
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                at = 0
                for rows, fut in group:
                    if not fut.done():
                        fut.set_result(ids[at : at + len(rows)])
                    at += len(rows)
        finally:
            self._flushing = False

    async def _insert(self, rows: list[Row]) -> list[int]:
        if self._raw is not None:
            ids = await self._raw.insert_exposures(rows)
            self.groups += 1
            return ids
        stmt = insert(Exposure).returning(Exposure.id, sort_by_parameter_order=True)
        async with self._maker() as session:
            result = await session.execute(stmt, rows)
            ids = [int(i) for i in result.scalars()]
            await session.commit()
        self.groups += 1
        return ids
