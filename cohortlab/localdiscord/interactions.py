"""Build interaction payloads the way the Discord client would for a user.

A test names a command path and passes Python values; this resolves them against the
commands the bot registered and refuses what the Discord client itself would never send
(unknown options, a missing required option, a value outside the declared choices or bounds,
clicking a disabled button, a select with too many values). Pure: reads state, no I/O.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cohortlab.localdiscord.models import JSON, THREAD_TYPES, AppCommand, Channel, Role, User
from cohortlab.localdiscord.state import DiscordState, ModalShown, Upload

SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
USER = 6
CHANNEL = 7
ROLE = 8
MENTIONABLE = 9
NUMBER = 10
ATTACHMENT = 11

BUTTON = 2
STRING_SELECT = 3
TEXT_INPUT = 4
USER_SELECT = 5
ROLE_SELECT = 6
MENTIONABLE_SELECT = 7
CHANNEL_SELECT = 8
ACTION_ROW = 1
LABEL = 18
FILE_UPLOAD = 19
RADIO_GROUP = 21
CHECKBOX_GROUP = 22
CHECKBOX = 23


class InvalidInput(ValueError):
    """What the Discord client would not let a user send."""


@dataclass
class Resolver:
    """Turns test-friendly values (names, ids, models) into ids plus ``resolved`` entries."""

    state: DiscordState
    guild_id: int | None
    channel_id: int
    store_upload: Callable[[Upload], JSON]
    #: The acting user: channel permissions in ``resolved`` are theirs.
    viewer_id: int = 0

    def __post_init__(self) -> None:
        self.resolved: dict[str, dict[str, JSON]] = {}

    def _put(self, kind: str, key: int, value: JSON) -> None:
        self.resolved.setdefault(kind, {})[str(key)] = value

    def user(self, value: Any) -> int:
        uid = _identify(value)
        if uid is None and isinstance(value, str):
            uid = self._user_by_name(value)
        if uid is None or uid not in self.state.users:
            raise InvalidInput(f"no such user: {value!r}")
        self._put("users", uid, self.state.users[uid].payload())
        if self.guild_id is not None:
            member = self.state.guilds[self.guild_id].members.get(uid)
            if member is not None:
                data = member.partial_payload()
                data["permissions"] = str(self.state.permissions_in(uid, self.channel_id))
                self._put("members", uid, data)
        return uid

    def _user_by_name(self, name: str) -> int | None:
        name = name.lstrip("@")
        if name.startswith("<@") and name.endswith(">"):
            digits = name.strip("<@!>")
            return int(digits) if digits.isdigit() else None
        for user in self.state.users.values():
            if name in (user.username, user.global_name):
                return user.id
        return None

    def channel(self, value: Any, allowed_types: list[int] | None = None) -> int:
        cid = _identify(value)
        if cid is None and isinstance(value, str):
            cid = self._channel_by_name(value)
        ch = self.state.channels.get(cid) if cid is not None else None
        if ch is None:
            raise InvalidInput(f"no such channel: {value!r}")
        if allowed_types and ch.type not in allowed_types:
            raise InvalidInput(
                f"channel {ch.name!r} has type {ch.type}, not one of {allowed_types}"
            )
        self._put("channels", ch.id, self._channel_payload(ch))
        return ch.id

    def _channel_by_name(self, name: str) -> int | None:
        name = name.lstrip("#")
        for ch in self.state.channels.values():
            if ch.guild_id == self.guild_id and ch.name == name:
                return ch.id
        return None

    def _channel_payload(self, ch: Channel) -> JSON:
        data: JSON = {
            "id": str(ch.id),
            "name": ch.name,
            "type": ch.type,
            "permissions": str(self.state.permissions_in(self.viewer_id, ch.id)),
            "guild_id": str(ch.guild_id),
            "parent_id": None if ch.parent_id is None else str(ch.parent_id),
            "position": ch.position,
            "nsfw": False,
            "flags": 0,
        }
        if ch.type in THREAD_TYPES:
            base = ch.base_payload()
            for key in ("owner_id", "member_count", "message_count", "thread_metadata"):
                data[key] = base[key]
        return data

    def role(self, value: Any) -> int:
        rid = _identify(value)
        guild = self.state.guilds.get(self.guild_id) if self.guild_id is not None else None
        if guild is None:
            raise InvalidInput("roles exist only in a server")
        if rid is None and isinstance(value, str):
            name = value.lstrip("@")
            rid = next((r.id for r in guild.roles.values() if r.name == name), None)
        if rid is None or rid not in guild.roles:
            raise InvalidInput(f"no such role: {value!r}")
        self._put("roles", rid, guild.roles[rid].payload())
        return rid

    def mentionable(self, value: Any) -> int:
        if isinstance(value, Role):
            return self.role(value)
        try:
            return self.user(value)
        except InvalidInput:
            return self.role(value)

    def attachment(self, value: Any) -> int:
        upload = as_upload(value)
        payload = self.store_upload(upload)
        att_id = int(payload["id"])
        self._put("attachments", att_id, payload)
        return att_id


def _identify(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    for attr in ("id",):
        inner = getattr(value, attr, None)
        if isinstance(inner, int) and not isinstance(inner, bool):
            return inner
    return None


def as_upload(value: Any) -> Upload:
    """Accept an Upload, (filename, bytes[, content_type]) or bytes for an attachment option."""
    if isinstance(value, Upload):
        return value
    if isinstance(value, tuple) and len(value) in (2, 3):
        filename, data = value[0], value[1]
        content_type = value[2] if len(value) == 3 else _guess_type(filename)
        return Upload(str(filename), bytes(data), content_type)
    if isinstance(value, bytes | bytearray):
        return Upload("file.bin", bytes(value))
    raise InvalidInput(f"cannot upload {value!r}: pass Upload(...) or (filename, bytes)")


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _check_choices(opt: JSON, value: Any) -> None:
    choices = opt.get("choices")
    if choices and not opt.get("autocomplete") and value not in [c["value"] for c in choices]:
        names = [c["value"] for c in choices]
        raise InvalidInput(f"option {opt['name']!r}: {value!r} is not one of the choices {names}")


def _convert(opt: JSON, value: Any, resolver: Resolver) -> Any:
    otype = int(opt["type"])
    name = opt["name"]
    if otype == STRING:
        if not isinstance(value, str):
            value = str(value)
        if "min_length" in opt and len(value) < int(opt["min_length"]):
            raise InvalidInput(f"option {name!r} must be at least {opt['min_length']} characters")
        if "max_length" in opt and len(value) > int(opt["max_length"]):
            raise InvalidInput(f"option {name!r} must be at most {opt['max_length']} characters")
        _check_choices(opt, value)
        return value
    if otype in (INTEGER, NUMBER):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InvalidInput(f"option {name!r} needs a number, got {value!r}")
        try:
            number: int | float = int(value) if otype == INTEGER else float(value)
        except ValueError:
            raise InvalidInput(f"option {name!r} needs a number, got {value!r}") from None
        if otype == INTEGER and isinstance(value, float) and not value.is_integer():
            raise InvalidInput(f"option {name!r} needs a whole number, got {value!r}")
        if "min_value" in opt and number < opt["min_value"]:
            raise InvalidInput(f"option {name!r} must be at least {opt['min_value']}")
        if "max_value" in opt and number > opt["max_value"]:
            raise InvalidInput(f"option {name!r} must be at most {opt['max_value']}")
        _check_choices(opt, number)
        return number
    if otype == BOOLEAN:
        if not isinstance(value, bool):
            raise InvalidInput(f"option {name!r} needs True or False, got {value!r}")
        return value
    if otype == USER:
        return str(resolver.user(value))
    if otype == CHANNEL:
        return str(resolver.channel(value, opt.get("channel_types")))
    if otype == ROLE:
        return str(resolver.role(value))
    if otype == MENTIONABLE:
        return str(resolver.mentionable(value))
    if otype == ATTACHMENT:
        return str(resolver.attachment(value))
    raise InvalidInput(f"option {name!r} has unsupported type {otype}")


def build_command_data(
    cmd: AppCommand,
    path: list[str],
    options: dict[str, Any],
    resolver: Resolver,
    *,
    focused: str | None = None,
) -> JSON:
    """The ``data`` of an APPLICATION_COMMAND (or AUTOCOMPLETE) interaction."""
    node: JSON = cmd.data
    chain: list[JSON] = []
    for part in path[1:]:
        sub = next(
            (
                o
                for o in node.get("options") or []
                if o.get("name") == part and o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP)
            ),
            None,
        )
        if sub is None:
            names = [
                o["name"]
                for o in node.get("options") or []
                if o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP)
            ]
            raise InvalidInput(f"/{' '.join(path)}: no subcommand {part!r}; have {names}")
        chain.append(sub)
        node = sub
    declared = [
        o
        for o in node.get("options") or []
        if o.get("type") not in (SUB_COMMAND, SUB_COMMAND_GROUP)
    ]
    if any(o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in node.get("options") or []):
        raise InvalidInput(f"/{' '.join(path)} is a group: name one of its subcommands")
    by_name = {o["name"]: o for o in declared}
    unknown = set(options) - set(by_name)
    if unknown:
        raise InvalidInput(
            f"/{' '.join(path)}: unknown option(s) {sorted(unknown)}; declared {list(by_name)}"
        )
    leaf: list[JSON] = []
    for opt in declared:
        name = opt["name"]
        if name not in options:
            if opt.get("required") and focused is None:
                raise InvalidInput(f"/{' '.join(path)}: required option {name!r} missing")
            continue
        if name == focused:
            leaf.append(
                {"name": name, "type": opt["type"], "value": str(options[name]), "focused": True}
            )
        else:
            leaf.append(
                {"name": name, "type": opt["type"], "value": _convert(opt, options[name], resolver)}
            )
    if focused is not None and focused not in by_name:
        raise InvalidInput(f"/{' '.join(path)}: no option {focused!r} to autocomplete")
    if focused is not None and not by_name[focused].get("autocomplete"):
        raise InvalidInput(f"option {focused!r} of /{' '.join(path)} has no autocomplete")
    nested: list[JSON] = leaf
    for sub in reversed(chain):
        nested = [{"name": sub["name"], "type": sub["type"], "options": nested}]
    data: JSON = {"id": str(cmd.id), "name": cmd.name, "type": cmd.type, "options": nested}
    if cmd.guild_id is not None:
        data["guild_id"] = str(cmd.guild_id)
    if resolver.resolved:
        data["resolved"] = resolver.resolved
    return data


def walk_components(components: list[JSON]) -> Iterator[JSON]:
    """Every component, depth first, through rows, labels, sections and containers."""
    for comp in components:
        yield comp
        children = list(comp.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(comp.get(key), dict):
                children.append(comp[key])
        yield from walk_components(children)


def find_component(components: list[JSON], custom_id: str) -> JSON:
    for comp in walk_components(components):
        if comp.get("custom_id") == custom_id:
            return comp
    ids = [c["custom_id"] for c in walk_components(components) if c.get("custom_id")]
    raise InvalidInput(f"no component with custom_id {custom_id!r}; message has {ids}")


def component_data(comp: JSON, values: list[Any] | None, resolver: Resolver) -> JSON:
    """The ``data`` of a MESSAGE_COMPONENT interaction for a click or a selection."""
    if comp.get("disabled"):
        raise InvalidInput(f"component {comp.get('custom_id')!r} is disabled")
    ctype = int(comp["type"])
    data: JSON = {"custom_id": comp["custom_id"], "component_type": ctype}
    if ctype == BUTTON:
        if values:
            raise InvalidInput("a button takes no values")
        return data
    if ctype not in (STRING_SELECT, USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT):
        raise InvalidInput(f"component type {ctype} cannot be clicked")
    chosen = list(values or [])
    low, high = int(comp.get("min_values", 1)), int(comp.get("max_values", 1))
    if not low <= len(chosen) <= high:
        raise InvalidInput(
            f"select {comp['custom_id']!r} takes {low}..{high} values, got {len(chosen)}"
        )
    if ctype == STRING_SELECT:
        offered = [o["value"] for o in comp.get("options") or []]
        bad = [v for v in chosen if v not in offered]
        if bad:
            raise InvalidInput(f"select {comp['custom_id']!r} offers {offered}, not {bad}")
        data["values"] = [str(v) for v in chosen]
        return data
    ids: list[str] = []
    for value in chosen:
        if ctype == USER_SELECT:
            ids.append(str(resolver.user(value)))
        elif ctype == ROLE_SELECT:
            ids.append(str(resolver.role(value)))
        elif ctype == CHANNEL_SELECT:
            ids.append(str(resolver.channel(value, comp.get("channel_types"))))
        else:
            ids.append(str(resolver.mentionable(value)))
    data["values"] = ids
    data["resolved"] = resolver.resolved
    return data


def modal_submit_data(modal: ModalShown, fields: dict[str, Any], resolver: Resolver) -> JSON:
    """The ``data`` of a MODAL_SUBMIT: every input of the modal, filled from ``fields``."""
    declared: dict[str, JSON] = {
        c["custom_id"]: c for c in walk_components(modal.data["components"]) if c.get("custom_id")
    }
    unknown = set(fields) - set(declared)
    if unknown:
        raise InvalidInput(
            f"modal {modal.data['custom_id']!r} has no field(s) {sorted(unknown)}; "
            f"it has {list(declared)}"
        )

    def submit(comp: JSON) -> JSON | None:
        ctype = int(comp["type"])
        cid = str(comp.get("custom_id") or "")
        if ctype == TEXT_INPUT:
            value = str(fields.get(cid, comp.get("value") or ""))
            if comp.get("required", True) and not value:
                raise InvalidInput(f"modal field {cid!r} is required")
            if value and "min_length" in comp and len(value) < int(comp["min_length"]):
                raise InvalidInput(f"modal field {cid!r} needs at least {comp['min_length']} chars")
            if "max_length" in comp and len(value) > int(comp["max_length"]):
                raise InvalidInput(f"modal field {cid!r} takes at most {comp['max_length']} chars")
            return {"type": TEXT_INPUT, "custom_id": cid, "value": value}
        if cid and ctype in (
            STRING_SELECT,
            USER_SELECT,
            ROLE_SELECT,
            MENTIONABLE_SELECT,
            CHANNEL_SELECT,
        ):
            raw = fields.get(cid, [])
            values = raw if isinstance(raw, list) else [raw]
            sel = component_data(
                dict(
                    comp,
                    min_values=comp.get("min_values", 0 if not comp.get("required", True) else 1),
                ),
                values,
                resolver,
            )
            return {"type": ctype, "custom_id": cid, "values": sel["values"]}
        if cid and ctype == FILE_UPLOAD:
            raw = fields.get(cid, [])
            uploads = raw if isinstance(raw, list) else [raw]
            if comp.get("required", True) and not uploads:
                raise InvalidInput(f"modal field {cid!r} needs a file")
            return {
                "type": ctype,
                "custom_id": cid,
                "values": [str(resolver.attachment(u)) for u in uploads],
            }
        if cid and ctype == RADIO_GROUP:
            choice = fields.get(cid)
            offered = [o["value"] for o in comp.get("options") or []]
            if choice is None and comp.get("required", True):
                raise InvalidInput(f"modal field {cid!r} is required")
            if choice is not None and choice not in offered:
                raise InvalidInput(f"radio {cid!r} offers {offered}, not {choice!r}")
            return {"type": ctype, "custom_id": cid, "value": choice}
        if cid and ctype == CHECKBOX_GROUP:
            raw = fields.get(cid, [])
            chosen = raw if isinstance(raw, list) else [raw]
            offered = [o["value"] for o in comp.get("options") or []]
            bad = [v for v in chosen if v not in offered]
            if bad:
                raise InvalidInput(f"checkboxes {cid!r} offer {offered}, not {bad}")
            return {"type": ctype, "custom_id": cid, "values": chosen}
        if cid and ctype == CHECKBOX:
            return {"type": ctype, "custom_id": cid, "value": bool(fields.get(cid, False))}
        return None

    out: list[JSON] = []
    for top in modal.data["components"]:
        ttype = int(top["type"])
        if ttype == ACTION_ROW:
            inner = [s for s in (submit(c) for c in top.get("components") or []) if s is not None]
            out.append({"type": ACTION_ROW, "components": inner})
        elif ttype == LABEL and isinstance(top.get("component"), dict):
            sub = submit(top["component"])
            if sub is not None:
                out.append({"type": LABEL, "component": sub})
        else:
            sub = submit(top)
            if sub is not None:
                out.append(sub)
    data: JSON = {"custom_id": modal.data["custom_id"], "components": out}
    if resolver.resolved:
        data["resolved"] = resolver.resolved
    return data


def user_label(user: User) -> str:
    return user.global_name or user.username
