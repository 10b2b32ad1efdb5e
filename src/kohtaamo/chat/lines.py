"""The lines Kohtaamo itself writes into a conversation, in the conversation's language."""

from __future__ import annotations

LINES: dict[str, dict[str, str]] = {
    "closed": {"fi": "{0} sulki keskustelun.", "en": "{0} closed the conversation."},
    "closed_idle": {
        "fi": "Keskustelu suljettiin automaattisesti, kun siinä ei ollut viestejä {0} tuntiin.",
        "en": "The conversation was closed automatically after {0} hours without messages.",
    },
    "reopened": {"fi": "{0} avasi keskustelun uudelleen.", "en": "{0} reopened the conversation."},
    "forwarded": {
        "fi": "{0} siirsi keskustelun: {1}.",
        "en": "{0} forwarded the conversation to {1}.",
    },
}


def line(locale: str, key: str, *args: str) -> str:
    texts = LINES[key]
    return (texts.get(locale) or texts["en"]).format(*args)
