"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright).

Signs in by the DM'd link, checks every plot is drawn with data, the at-risk list with its
reasons, sends a message, and the refusals (reused and expired links, a student on a tutor
page, another module's tutor, a forged CSRF token). Screenshots go to $COHORTBOT_SCREENSHOTS_DIR
(docs/screenshots/ for the committed ones).
Never runs ``playwright install``: the browser is /usr/bin/chromium.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import Module, Person, TutorMessage
from cohortlab.sandbox import Sandbox, World
from tests.e2e.dashboard_helpers import MODULE, OTHER_MODULE, seed_module, sign_in_link

CHROMIUM = os.environ.get("COHORTBOT_CHROMIUM", "/usr/bin/chromium")
# The committed screenshots are retaken with COHORTBOT_SCREENSHOTS_DIR=docs/screenshots; an
# ordinary run keeps its screenshots out of the work tree.
SHOTS = Path(
    os.environ.get(
        "COHORTBOT_SCREENSHOTS_DIR", Path(tempfile.gettempdir()) / "cohortbot-screenshots"
    )
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def new_page(browser: Any, dark: bool = False) -> Any:
    context = await browser.new_context(
        viewport={"width": 1200, "height": 900}, color_scheme="dark" if dark else "light"
    )
    return await context.new_page()


async def sign_in(page: Any, link: str) -> Any:
    await page.goto(link)
    async with page.expect_navigation():
        await page.click("#sign-in")
    return page


async def shot(page: Any, name: str) -> None:
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / name), full_page=False, type="png")


async def test_a_tutor_reads_the_module_and_writes_to_a_student_at_risk(
    sandbox: Sandbox, world: World, browser: Any
) -> None:
    mid, planted = await seed_module(sandbox)
    tomasz = world.person("tomaszz_stats")
    page = await sign_in(await new_page(browser), await sign_in_link(sandbox, world, tomasz))
    assert page.url.endswith("/dashboard")
    assert await page.locator("#modules").inner_text() != ""
    modules = await page.locator("#modules tbody tr").all_inner_texts()
    assert any(MODULE in row for row in modules)
    assert not any(OTHER_MODULE in row for row in modules)
    await shot(page, "dashboard-overview.png")

    await page.click(f"a[href='/dashboard/module/{mid}']")
    await page.wait_for_selector("#at-risk")
    for plot in ("participation", "timeliness", "marks", "turnout"):
        bars = await page.locator(f"#plot-{plot} rect.bar").count()
        assert bars > 0, f"plot {plot} drew no bars"
        # A data table behind every plot, for screen readers.
        table = page.locator(f"section:has(#plot-{plot}) details table")
        assert await table.count() == 1
    flagged = {
        int(v)
        for v in await page.locator("tr.risk").evaluate_all(
            "rows => rows.map(r => r.dataset.person)"
        )
    }
    assert set(planted.fading) <= flagged
    assert not flagged & set(planted.quiet)
    reasons = await page.locator(
        f"tr.risk[data-person='{planted.fading[0]}'] ul.reasons"
    ).inner_text()
    assert "missed" in reasons and "did not attend" in reasons
    await shot(page, "dashboard-module.png")

    row = page.locator(f"tr.risk[data-person='{planted.fading[0]}']")
    await row.locator("summary").click()
    await row.locator("textarea").fill("Hello, is everything all right? Happy to help.")
    async with page.expect_navigation():
        await row.locator("button[type=submit]").click()
    outcome = await page.locator("#outcome").inner_text()
    assert outcome.startswith("Message sent to")
    async with sandbox.db.session() as s:
        platform_id = (
            await s.execute(select(Person.platform_user_id).where(Person.id == planted.fading[0]))
        ).scalar_one()
    recipient = next(a for a in world.people.values() if str(a.id) == platform_id)
    await sandbox.server.script.wait_for_message(
        await recipient.dm_channel(), contains="Hello, is everything all right?"
    )
    async with sandbox.db.session() as s:
        sent = (await s.execute(select(TutorMessage))).scalars().all()
        assert [m.recipient_id for m in sent] == [planted.fading[0]] and sent[0].sent_at

    await page.goto(f"{sandbox.app.web.url}/dashboard/student/{planted.fading[0]}")
    assert "Evidence timeline" in await page.content()
    assert "message from a tutor" in await page.locator("#notices").inner_text()
    await shot(page, "dashboard-student.png")

    dark = await sign_in(
        await new_page(browser, dark=True), await sign_in_link(sandbox, world, tomasz)
    )
    await dark.goto(f"{sandbox.app.web.url}/dashboard/module/{mid}")
    background = await dark.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(20, 22, 27)"
    await shot(dark, "dashboard-module-dark.png")

    async with sandbox.db.session() as s:
        from bot.db.models import PeerExercise

        exercise = (
            (await s.execute(select(PeerExercise.id).where(PeerExercise.module_id == mid)))
            .scalars()
            .first()
        )
    await page.goto(f"{sandbox.app.web.url}/dashboard/exercise/{exercise}")
    assert await page.locator("#plot-reviews rect.bar").count() > 0
    await shot(page, "dashboard-exercise.png")


async def test_refusals_in_the_browser(sandbox: Sandbox, world: World, browser: Any) -> None:
    mid, _ = await seed_module(sandbox)
    async with sandbox.db.session() as s:
        other = (await s.execute(select(Module.id).where(Module.code == OTHER_MODULE))).scalar_one()
    base = sandbox.app.web.url

    # A student opening a tutor page.
    amara = world.person("amara.codes")
    student = await sign_in(
        await new_page(browser), link := await sign_in_link(sandbox, world, amara)
    )
    assert "/dashboard/student/" in student.url
    await shot(student, "dashboard-student-own.png")
    response = await student.goto(f"{base}/dashboard/module/{mid}")
    assert response.status == 403
    assert "for the module's tutors" in await student.locator("#message").inner_text()

    # The same link again (in another browser), then an expired one.
    again = await new_page(browser)
    await again.goto(link)
    async with again.expect_navigation():
        await again.click("#sign-in")
    assert "already used" in await again.locator("#message").inner_text()
    await shot(again, "dashboard-link-reused.png")
    expired_link = await sign_in_link(sandbox, world, amara)
    sandbox.clock.advance(timedelta(minutes=11))
    expired = await new_page(browser)
    await expired.goto(expired_link)
    async with expired.expect_navigation():
        await expired.click("#sign-in")
    assert "expired" in await expired.locator("#message").inner_text()

    # Another module's tutor.
    helen = world.person("helen.marsh")
    tutor = await sign_in(
        await new_page(browser), await sign_in_link(sandbox, world, helen, OTHER_MODULE)
    )
    response = await tutor.goto(f"{base}/dashboard/module/{mid}")
    assert response.status == 403
    response = await tutor.goto(f"{base}/dashboard/module/{other}")
    assert response.status == 200

    # A forged CSRF token on the message form.
    await tutor.evaluate(
        "document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged')"
    )
    async with tutor.expect_navigation():
        await tutor.locator("form[action='/dashboard/signout'] button").click()
    assert "security token did not match" in await tutor.locator("#message").inner_text()
    assert re.search(r"/dashboard/signout$", tutor.url)
