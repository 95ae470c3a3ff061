"""Households' contact records: where messages go, in which language, and the household's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .access import StoreAccess

SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (
    household TEXT PRIMARY KEY, email TEXT, language TEXT NOT NULL, timezone TEXT, updated_at TEXT NOT NULL);
"""


class Language(StrEnum):
    EN = "en"
    ZH = "zh"


@dataclass(frozen=True)
class Contact:
    household: str
    email: str | None
    language: Language
    timezone: str | None


def contact_of(store: StoreAccess, household: str) -> Contact | None:
    row = store._conn.execute("SELECT * FROM contacts WHERE household = ?", (household,)).fetchone()
    return None if row is None else Contact(row["household"], row["email"], Language(row["language"]), row["timezone"])


def set_contact(store: StoreAccess, contact: Contact, now: datetime) -> None:
    with store._tx() as conn:
        conn.execute(
            "INSERT INTO contacts VALUES (?, ?, ?, ?, ?) ON CONFLICT(household) DO UPDATE SET email = excluded.email,"
            " language = excluded.language, timezone = excluded.timezone, updated_at = excluded.updated_at",
            (contact.household, contact.email, contact.language.value, contact.timezone, now.isoformat()),
        )
