"""What a person's slash command, button click or modal submit sends the app, and what
Slack does with the app's answers: the acknowledgement's payload and ``response_url`` POSTs.

``response_url`` bodies become an ephemeral reply (default) or a channel message
(``"response_type": "in_channel"``), or change the message the click came from
(``replace_original`` / ``delete_original``); Slack allows five per URL.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cohortlab.localslack.models import Ephemeral, Message, SlackError, View

if TYPE_CHECKING:
    from cohortlab.localslack.server import LocalSlackServer

RESPONSE_URL_USES = 5


@dataclass
class ResponseTarget:
    """Where a ``response_url`` answers: the person, the channel, the original message."""

    id: str
    user: str
    channel: str | None
    original: Message | Ephemeral | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)


class Interactions:
    def __init__(self, server: LocalSlackServer) -> None:
        self.server = server
        self.state = server.state
        self.targets: dict[str, ResponseTarget] = {}

    # --------------------------------------------------------- response_url

    def response_url(
        self, user: str, channel: str | None, original: Message | Ephemeral | None = None
    ) -> ResponseTarget:
        target = ResponseTarget(uuid.uuid4().hex, user, channel, original)
        self.targets[target.id] = target
        return target

    def url_of(self, target: ResponseTarget) -> str:
        return f"{self.server.base_url}/respond/{target.id}"

    async def handle_response(self, request: web.Request) -> web.Response:
        target = self.targets.get(request.match_info["target"])
        if target is None:
            return web.json_response({"ok": False, "error": "invalid_url"}, status=404)
        try:
            if request.content_type == "application/json":
                body = await request.json()
            else:
                form = await request.post()
                body = json.loads(str(form.get("payload", "{}")))
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_json"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "invalid_json"}, status=400)
        if len(target.bodies) >= RESPONSE_URL_USES:
            return web.json_response({"ok": False, "error": "used_url"}, status=404)
        target.bodies.append(body)
        try:
            self.apply(target, body)
        except SlackError as exc:
            return web.json_response({"ok": False, "error": exc.code}, status=400)
        finally:
            self.server.commit()
        return web.json_response({"ok": True})

    def apply(
        self, target: ResponseTarget, body: dict[str, Any], *, source: str = "response_url"
    ) -> None:
        """Do what a response body (or an acknowledgement's payload) asks."""
        text = str(body.get("text") or "")
        blocks = body.get("blocks")
        blocks = blocks if isinstance(blocks, list) else None
        original = target.original
        if _bool(body.get("delete_original")):
            if isinstance(original, Ephemeral):
                original.deleted = True
            elif isinstance(original, Message):
                channel = self.state.channel(original.channel)
                self.state.delete(channel, original.ts, original.user, force=True)
            return
        if _bool(body.get("replace_original")) and original is not None:
            if isinstance(original, Ephemeral):
                original.text, original.blocks = text, blocks
            else:
                channel = self.state.channel(original.channel)
                self.state.update(
                    channel, original.ts, original.user, text=text, blocks=blocks, by_app=True
                )
            return
        if target.channel is None:
            return
        channel = self.state.channel(target.channel)
        thread_ts = body.get("thread_ts")
        if body.get("response_type") == "in_channel":
            self.state.post(
                channel,
                self.state.bot.id,
                text,
                blocks=blocks,
                thread_ts=str(thread_ts) if thread_ts else None,
                require_member=False,
            )
        else:
            self.state.post_ephemeral(
                channel,
                target.user,
                text,
                blocks=blocks,
                thread_ts=str(thread_ts) if thread_ts else None,
                source=source,
            )

    # ------------------------------------------------------------- payloads

    def _team(self) -> dict[str, str]:
        return {"id": self.state.team_id, "domain": "cohort"}

    def _user(self, user_id: str) -> dict[str, str]:
        user = self.state.user(user_id)
        return {"id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id}

    def slash_payload(
        self, user_id: str, command: str, text: str, channel_id: str
    ) -> tuple[dict[str, Any], ResponseTarget]:
        channel = self.state.channel(channel_id)
        user = self.state.user(user_id)
        target = self.response_url(user_id, channel_id)
        payload = {
            "token": self.server.verification_token,
            "team_id": self.state.team_id,
            "team_domain": "cohort",
            "channel_id": channel.id,
            "channel_name": "directmessage" if channel.is_im else channel.name,
            "user_id": user.id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": self.server.app_id,
            "is_enterprise_install": "false",
            "response_url": self.url_of(target),
            "trigger_id": self.state.new_trigger(user_id),
        }
        return payload, target

    def block_actions_payload(
        self,
        user_id: str,
        source: Message | Ephemeral | View,
        block_id: str,
        element: dict[str, Any],
        value: Any,
    ) -> tuple[dict[str, Any], ResponseTarget | None]:
        action: dict[str, Any] = {
            "action_id": element.get("action_id"),
            "block_id": block_id,
            "type": element.get("type", "button"),
            "action_ts": self.state.clock.next(),
        }
        if element.get("type", "button") == "button":
            action["text"] = element.get("text", {"type": "plain_text", "text": ""})
            action["value"] = str(value if value is not None else element.get("value", ""))
            if element.get("style"):
                action["style"] = element["style"]
        else:
            action.update(input_value(element, value))
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.server.app_id,
            "token": self.server.verification_token,
            "trigger_id": self.state.new_trigger(user_id),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "actions": [action],
            "state": {"values": {}},
        }
        target: ResponseTarget | None = None
        if isinstance(source, View):
            payload["container"] = {"type": "view", "view_id": source.id}
            payload["view"] = source.to_json()
            return payload, None
        channel = self.state.channel(source.channel)
        target = self.response_url(user_id, channel.id, source)
        payload["container"] = {
            "type": "message",
            "message_ts": source.ts,
            "channel_id": channel.id,
            "is_ephemeral": isinstance(source, Ephemeral),
        }
        payload["channel"] = {"id": channel.id, "name": channel.name or "directmessage"}
        payload["response_url"] = self.url_of(target)
        if isinstance(source, Message):
            payload["message"] = source.to_json()
        return payload, target

    def view_submission_payload(
        self, user_id: str, view: View, values: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.server.app_id,
            "token": self.server.verification_token,
            "trigger_id": self.state.new_trigger(user_id),
            "view": view.to_json(state_values(view, values)),
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def view_closed_payload(self, user_id: str, view: View) -> dict[str, Any]:
        return {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.server.app_id,
            "token": self.server.verification_token,
            "view": view.to_json(),
            "is_cleared": False,
        }


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def input_value(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """The ``state.values`` entry Slack sends for an input element holding ``value``."""
    kind = str(element.get("type", "plain_text_input"))
    if isinstance(value, dict):
        return {"type": kind, **value}
    if kind in ("static_select", "external_select", "radio_buttons"):
        options = element.get("options", [])
        chosen = next((o for o in options if o.get("value") == value), None)
        chosen = chosen or {"text": {"type": "plain_text", "text": str(value)}, "value": value}
        return {"type": kind, "selected_option": chosen}
    if kind in ("checkboxes", "multi_static_select"):
        wanted = value if isinstance(value, list) else [value]
        options = [o for o in element.get("options", []) if o.get("value") in wanted]
        return {"type": kind, "selected_options": options}
    if kind == "users_select":
        return {"type": kind, "selected_user": value}
    if kind == "multi_users_select":
        return {"type": kind, "selected_users": list(value)}
    if kind == "conversations_select":
        return {"type": kind, "selected_conversation": value}
    if kind == "channels_select":
        return {"type": kind, "selected_channel": value}
    if kind == "datepicker":
        return {"type": kind, "selected_date": value}
    if kind == "timepicker":
        return {"type": kind, "selected_time": value}
    if kind == "number_input":
        return {"type": kind, "value": str(value)}
    return {"type": kind, "value": value}


def state_values(view: View, values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``view.state.values`` for a submit: every input block, typed as the view declares it.

    Inputs the person left empty are sent with null values, as Slack does; a block or
    action the view does not have is refused so a test cannot submit what no one could type.
    """
    by_block: dict[str, dict[str, dict[str, Any]]] = {}
    for block in view.blocks:
        element = block.get("element")
        if block.get("type") == "input" and isinstance(element, dict):
            block_id = str(block.get("block_id", ""))
            action_id = str(element.get("action_id", ""))
            by_block.setdefault(block_id, {})[action_id] = element
    out: dict[str, Any] = {}
    for block_id, actions in by_block.items():
        out[block_id] = {}
        for action_id, element in actions.items():
            given = values.get(block_id, {})
            if action_id in given:
                out[block_id][action_id] = input_value(element, given[action_id])
            else:
                out[block_id][action_id] = input_value(element, None)
    for block_id, given in values.items():
        for action_id in given:
            if action_id not in by_block.get(block_id, {}):
                known = {b: sorted(a) for b, a in by_block.items()}
                raise AssertionError(
                    f"view {view.callback_id!r} has no input {block_id}.{action_id}; it has {known}"
                )
    return out
