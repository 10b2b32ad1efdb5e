"""Text that every database can store: PostgreSQL refuses NUL characters, so all of Kohtaamo does."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\u0000)")
    return value


Clean = Annotated[str, AfterValidator(no_nul)]
