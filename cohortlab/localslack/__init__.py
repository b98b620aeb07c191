"""A local Slack-compatible server (Web API subset, Socket Mode, signed HTTP delivery) for
end-to-end tests and the demo. It never imports slack_sdk: the real slack_sdk / slack-bolt
clients run against it unchanged.

    async with LocalSlackServer(team_id="T0COHORT") as server:
        client = AsyncWebClient(token=server.bot_token, base_url=server.api_base)
        socket = SocketModeClient(app_token=server.app_token, web_client=client)
        alice = server.script.add_user("alice", email="alice@uni.ac.uk")
        chan = server.script.add_channel("math70097", members=[alice])
        result = await alice.slash("/prompt", "list", channel=chan)
        assert server.internal_errors == []

Modules: models and state (the workspace and Slack's rules, pure), webapi (methods),
socketmode and httpmode (how events reach the app), delivery (envelopes and acks),
interactions (command/click/submit payloads, response_url), scripting (people acting),
ratelimit, faults, server (wiring). See docs/localslack.md.
"""

from cohortlab.localslack.cohort import SlackCohort, build_cohort
from cohortlab.localslack.delivery import COMMANDS, EVENTS, INTERACTIVE, Attempt, Delivery
from cohortlab.localslack.faults import FaultPlan, MethodFault
from cohortlab.localslack.httpmode import HttpDeliverer, HttpRecord, sign
from cohortlab.localslack.models import (
    Channel,
    Ephemeral,
    File,
    Message,
    SlackError,
    User,
    View,
)
from cohortlab.localslack.ratelimit import SlackRateLimiter, Window
from cohortlab.localslack.scripting import Result, Script, SlackActor, SubmitResult, message_text
from cohortlab.localslack.server import LocalSlackServer
from cohortlab.localslack.socketmode import SocketModeHub, SocketRecord
from cohortlab.localslack.webapi import ApiCall

__all__ = [
    "COMMANDS",
    "EVENTS",
    "INTERACTIVE",
    "ApiCall",
    "Attempt",
    "Channel",
    "Delivery",
    "Ephemeral",
    "FaultPlan",
    "File",
    "HttpDeliverer",
    "HttpRecord",
    "LocalSlackServer",
    "Message",
    "MethodFault",
    "Result",
    "Script",
    "SlackActor",
    "SlackCohort",
    "SlackError",
    "SlackRateLimiter",
    "SocketModeHub",
    "SocketRecord",
    "SubmitResult",
    "User",
    "View",
    "Window",
    "build_cohort",
    "message_text",
    "sign",
]
