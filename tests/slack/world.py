"""The example cohort on a local Slack workspace: the driver's one builder, re-exported so the
old import path keeps working (import ``cohortlab.drive.slack``)."""

from __future__ import annotations

from cohortlab.drive.slack import SlackWorld, build_slack_world

__all__ = ["SlackWorld", "build_slack_world"]
