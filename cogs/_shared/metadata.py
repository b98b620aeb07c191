"""Command metadata (``extras``): who may use a command, an example call, and what must exist
first. ``setup`` is a neutral name (e.g. ``"open_prompt"``); the permission matrix test maps
each name to the function that creates it, so no cog names a test or demo module."""

from __future__ import annotations

from typing import Any

__all__ = ["extras"]


def extras(
    audience: str,
    example: dict[str, Any],
    *,
    setup: str | None = None,
    module: str | None = None,
) -> dict[str, Any]:
    """``audience``: member, student, staff or admin; ``module``: the module the command acts
    in when no option names it (commands taking an object's number)."""
    data: dict[str, Any] = {"audience": audience, "example": example}
    if setup is not None:
        data["setup"] = setup
    if module is not None:
        data["module"] = module
    return data
