"""Who tickets can be assigned to: the names of engineers and admins (the desk offers them as suggestions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..models import Role

if TYPE_CHECKING:
    from .sqlite import SqliteStore


def staff_names(store: SqliteStore, limit: int = 500) -> list[str]:
    rows = store._conn.execute(
        "SELECT name FROM users WHERE role IN (?, ?) ORDER BY name LIMIT ?",
        (Role.ENGINEER.value, Role.ADMIN.value, limit),
    ).fetchall()
    return [row["name"] for row in rows]
