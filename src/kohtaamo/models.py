"""Every domain's tables, imported in one place for Alembic and for tests."""

from kohtaamo.auth.models import AuthSession, Invitation, Membership, User
from kohtaamo.chat.models import CannedReply, ChatAgent, Conversation, Forward, Message, Team
from kohtaamo.commerce.models import Integration, Order, OrderLine, Refund
from kohtaamo.contacts.models import Customer
from kohtaamo.rules.models import Exposure, Rule
from kohtaamo.shops.models import ApiKey, Workspace
from kohtaamo.tracking.models import TrackedEvent, Visit, Visitor

__all__ = [
    "ApiKey",
    "AuthSession",
    "CannedReply",
    "ChatAgent",
    "Conversation",
    "Customer",
    "Exposure",
    "Forward",
    "Integration",
    "Invitation",
    "Membership",
    "Message",
    "Order",
    "OrderLine",
    "Refund",
    "Rule",
    "Team",
    "TrackedEvent",
    "User",
    "Visit",
    "Visitor",
    "Workspace",
]
