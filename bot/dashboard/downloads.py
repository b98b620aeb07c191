"""Gradebook downloads from the dashboard, checked against the viewer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dashboard.viewer import Viewer, _staff_module
from bot.db.models import (
    Cohort,
)
from bot.errors import PermissionDenied
from bot.gradebook.export import ExportFile
from bot.gradebook.exporting import build_module_export, build_programme_export, check_format


async def module_export(
    session: AsyncSession, viewer: Viewer, module_id: int, fmt: str, now: datetime
) -> ExportFile:
    """The module's gradebook file, as ``/gradebook export`` makes it."""
    module = await _staff_module(session, viewer, module_id)
    return await build_module_export(session, module, check_format(fmt), now)


async def programme_export(
    session: AsyncSession, viewer: Viewer, fmt: str, now: datetime
) -> ExportFile:
    """The whole cohort's gradebook (programme admins only), as ``cohortbot export`` makes it."""
    if not viewer.is_admin:
        raise PermissionDenied("Only programme admins can do that.")
    cohort = await session.get(Cohort, viewer.cohort_id)
    assert cohort is not None
    return await build_programme_export(session, cohort, check_format(fmt), now)
