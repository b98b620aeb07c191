"""The audit trail of a module, a student or one item, as lines for staff to read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser
from bot.access.permissions import Caller, student_of
from bot.db.models import AuditEntry, Person
from bot.errors import UserError, shown
from bot.gradebook import audit
from bot.gradebook.book import ITEM_TYPE_ALIASES, ItemType, canonical_item_type
from bot.gradebook.loading import PARTICIPATION
from bot.gradebook.scope import staff_module
from bot.timeparse import discord_timestamp

# --------------------------------------------------------------------------- audit trail


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor: str
    action: str
    entity: str
    subject: str | None
    before: str
    after: str
    reason: str

    @property
    def text(self) -> str:
        who = f" for {self.subject}" if self.subject else ""
        change = ""
        if self.before or self.after:
            change = f": {self.before or '—'} → {self.after or '—'}"
        why = f" (why: {self.reason})" if self.reason else ""
        return (
            f"{discord_timestamp(self.at, 'f')} · {self.actor} · {self.action} · "
            f"{self.entity}{who}{change}{why}"
        )


@dataclass(frozen=True)
class AuditTrail:
    module_code: str
    scope: str
    lines: tuple[AuditLine, ...]

    @property
    def header(self) -> str:
        count = len(self.lines)
        noun = "entry" if count == 1 else "entries"
        return f"Audit trail of {self.module_code}, {self.scope}: {count} {noun}"

    def csv_rows(self) -> tuple[list[str], list[list[str]]]:
        header = ["at", "actor", "action", "entity", "student", "before", "after", "reason"]
        rows = [
            [
                line.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                line.actor,
                line.action,
                line.entity,
                line.subject or "",
                line.before,
                line.after,
                line.reason,
            ]
            for line in self.lines
        ]
        return header, rows


def _compact(value: Mapping[str, object] | None, limit: int = 300) -> str:
    if not value:
        return ""
    text = ", ".join(f"{k} {_flat(v)}" for k, v in value.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flat(value: object) -> str:
    if isinstance(value, Mapping):
        return (
            "{"
            + ", ".join(f"{k}: {v}" for k, v in list(value.items())[:8])
            + (", …}" if len(value) > 8 else "}")
        )
    return str(value)


ITEM_CODES = {"D": "prompt", "X": "exercise", "T": "occurrence"}


def parse_item_ref(text: str) -> tuple[str, int | None]:
    """``D3`` / ``prompt:3`` / ``X2`` / ``T5`` / ``weights`` / ``participation`` / ``type:id``."""
    raw = text.strip()
    lowered = raw.lower()
    named = {
        "weights": ("mark_scheme", None),
        "participation": (PARTICIPATION, None),
        "release": (PARTICIPATION, None),
        "components": ("component_mark", None),
        "adjustments": (ItemType.ADJUSTMENT.value, None),
    }
    if lowered in named:
        return named[lowered]
    if len(raw) > 1 and raw[0].upper() in ITEM_CODES and raw[1:].isdigit():
        return ITEM_CODES[raw[0].upper()], int(raw[1:])
    if ":" in raw:
        kind, _, ident = raw.partition(":")
        canonical = canonical_item_type(kind)
        if ident.strip().isdigit() and kind.strip():
            return (canonical.value if canonical else kind.strip().lower()), int(ident)
    raise UserError(
        f"I do not know the item {shown(raw)}; use a code such as D3 (prompt), X2 (peer exercise), "
        "T5 (tutorial), or weights, participation, components, adjustments."
    )


async def audit_trail(
    session: AsyncSession,
    caller: Caller,
    module_code: str,
    *,
    student: ChatUser | None = None,
    item: str | None = None,
) -> AuditTrail:
    """The grade changes of a module, for one student and/or one item (staff of it only)."""
    module = await staff_module(session, caller, module_code)
    subject_id: int | None = None
    scope: list[str] = []
    if student is not None:
        person = await student_of(session, module, student)
        subject_id = person.id
        scope.append(person.display_name)
    entity_types: frozenset[str] | None = None
    entity_id: int | None = None
    if item is not None:
        entity_type, entity_id = parse_item_ref(item)
        entity_types = _spellings(entity_type)
        scope.append(item.strip())
    entries = await audit.trail(
        session,
        audit.TrailQuery(
            subject_person_id=subject_id,
            entity_types=entity_types,
            entity_id=entity_id,
            module_ids=frozenset({module.id}),
        ),
    )
    names = await _names(session, {e.subject_person_id for e in entries if e.subject_person_id})
    lines = tuple(_audit_line(e, names) for e in entries)
    return AuditTrail(module.code, " and ".join(scope) or "everything", lines)


def _spellings(entity_type: str) -> frozenset[str]:
    """An item type and every spelling features use for it (prompt, discussion_prompt...)."""
    kind = canonical_item_type(entity_type)
    if kind is None:
        return frozenset({entity_type})
    return frozenset(name for name, k in ITEM_TYPE_ALIASES.items() if k is kind) | {kind.value}


async def _names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Person.id, Person.display_name).where(Person.id.in_(sorted(ids)))
    )
    return {pid: name for pid, name in rows.all()}


def _audit_line(entry: AuditEntry, names: Mapping[int, str]) -> AuditLine:
    entity = (
        entry.entity_type if entry.entity_id is None else f"{entry.entity_type} {entry.entity_id}"
    )
    return AuditLine(
        at=entry.at,
        actor=entry.actor_label,
        action=entry.action,
        entity=entity,
        subject=names.get(entry.subject_person_id) if entry.subject_person_id else None,
        before=_compact(entry.before),
        after=_compact(entry.after),
        reason=entry.reason or "",
    )
