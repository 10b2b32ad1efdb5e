"""Who the simulation plays: agents, visitors (people, with their carts and plans) and what it
did, in numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

from kohtaamo.simulate.shop import Product


class Left(Exception):
    """The visitor leaves the shop in the middle of a visit."""


@dataclass
class Agent:
    user_id: int
    name: str
    style: str  # "closer" | "helper" | "slow"


@dataclass
class Person:
    visitor_key: str
    locale: str
    visits_left: int
    customer_id: str | None = None
    cart: list[Product] = field(default_factory=list)
    buy_later: float = 0.0  # the probability of buying on the next visit
    shown: dict[str, float] = field(default_factory=dict)  # rule slug -> effect, latest visit


@dataclass
class Summary:
    visitors: int = 0
    visits: int = 0
    requests: int = 0
    shown: int = 0
    chats: int = 0
    orders: int = 0
    refunds: int = 0
    revenue: int = 0
    left: int = 0  # visits a rule's message interrupted

    def line(self) -> str:
        return (
            f"{self.visitors} visitors, {self.visits} visits, {self.requests} tracking calls, "
            f"{self.shown} rule messages shown, {self.chats} chats, {self.orders} orders "
            f"({self.revenue / 100:.2f} €), {self.refunds} refunds"
        )
