"""Every domain's tables, imported in one place for Alembic and for tests."""

from kohtaamo.auth.models import AuthSession, Invitation, Membership, User
from kohtaamo.shops.models import ApiKey, Workspace
from kohtaamo.tracking.models import TrackedEvent, Visit, Visitor

__all__ = [
    "ApiKey",
    "AuthSession",
    "Invitation",
    "Membership",
    "TrackedEvent",
    "User",
    "Visit",
    "Visitor",
    "Workspace",
]
