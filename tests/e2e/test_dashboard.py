"""The dashboard over HTTP with the real bot: sign-in by link, pages, refusals, a message sent.

(``test_dashboard_browser.py`` drives the same pages in Chromium; these need no browser.)
"""

from __future__ import annotations

import re
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from bot.db.models import AuditEntry, Module, TutorMessage
from cohortlab.sandbox import Sandbox, World
from tests.e2e.dashboard_helpers import MODULE, OTHER_MODULE, seed_module, sign_in_link

pytestmark = pytest.mark.e2e


async def signed_in(client: aiohttp.ClientSession, link: str) -> tuple[aiohttp.ClientResponse, str]:
    """Open the link, press "Sign in"; returns the response and the page's HTML."""
    async with client.get(link) as page:
        html = await page.text()
        assert page.status == 200, html
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token
    base = link.split("/dashboard")[0]
    async with client.post(f"{base}/dashboard/signin", data={"token": token.group(1)}) as r:
        return r, await r.text()


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1 as a browser does."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def module_id(sandbox: Sandbox, code: str) -> int:
    async with sandbox.db.session() as s:
        return (await s.execute(select(Module.id).where(Module.code == code))).scalar_one()


async def test_a_tutor_signs_in_sees_the_at_risk_list_and_sends_a_message(
    sandbox: Sandbox, world: World
) -> None:
    mid, planted = await seed_module(sandbox)
    tomasz = world.person("tomaszz_stats")
    link = await sign_in_link(sandbox, world, tomasz)
    base = sandbox.app.web.url
    async with browser() as client:
        response, html = await signed_in(client, link)
        assert response.status == 200 and response.url.path == "/dashboard", html
        cookie = response.history[0].headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        assert MODULE in html and OTHER_MODULE not in html  # only his modules
        async with client.get(f"{base}/dashboard/module/{mid}") as r:
            page = await r.text()
            assert r.status == 200
            assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
        for plot in ("participation", "timeliness", "marks", "turnout"):
            bars = re.search(rf'data-bars="(\d+)" id="plot-{plot}"', page)
            assert bars and int(bars.group(1)) > 0, plot
        rows = re.findall(r'<tr class="risk" data-person="(\d+)">', page)
        assert set(map(int, rows)) >= set(planted.fading)
        assert not set(map(int, rows)) & set(planted.quiet)
        assert "missed" in page and "did not attend" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf
        student_id = planted.fading[0]
        form = {"csrf": csrf.group(1), "person_id": str(student_id), "text": "Are you OK?"}
        async with client.post(f"{base}/dashboard/module/{mid}/message", data=form) as r:
            assert r.status == 200, await r.text()
            assert "Message sent to" in await r.text()
        forged = {**form, "csrf": "forged"}
        async with client.post(f"{base}/dashboard/module/{mid}/message", data=forged) as r:
            assert r.status == 403
            assert "security token did not match" in await r.text()
        async with client.get(f"{base}/dashboard/module/{mid}/gradebook.csv") as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
        other = await module_id(sandbox, OTHER_MODULE)
        async with client.get(f"{base}/dashboard/module/{other}") as r:
            assert r.status == 403
            assert "for the module&#39;s tutors and the programme admins" in await r.text()
    async with sandbox.db.session() as s:
        sent = (await s.execute(select(TutorMessage))).scalars().all()
        assert [(m.recipient_id, m.text, m.error) for m in sent] == [
            (student_id, "Are you OK?", None)
        ]
        actions = {a.action for a in (await s.execute(select(AuditEntry))).scalars().all()}
        assert {"dashboard_sign_in", "dashboard_message", "dashboard_export"} <= actions


async def test_links_work_once_and_expire_and_students_see_only_their_page(
    sandbox: Sandbox, world: World
) -> None:
    mid, _ = await seed_module(sandbox)
    amara = world.person("amara.codes")
    link = await sign_in_link(sandbox, world, amara)
    base = sandbox.app.web.url
    async with browser() as client:
        response, html = await signed_in(client, link)
        assert response.url.path.startswith("/dashboard/student/")
        assert "Amara Okafor" in html and "Evidence timeline" in html
        async with client.get(f"{base}/dashboard/module/{mid}") as r:
            assert r.status == 403
        other_student = world.person("lukasb_92")
        async with sandbox.db.session() as s:
            from bot.db.models import Person

            lukas = (
                await s.execute(
                    select(Person.id).where(Person.platform_user_id == str(other_student.id))
                )
            ).scalar_one()
        async with client.get(f"{base}/dashboard/student/{lukas}") as r:
            assert r.status == 403
            assert "only their own page" in await r.text()
    async with browser() as client:
        response, html = await signed_in(client, link)  # the same link again
        assert response.status == 403 and "already used" in html
    late = await sign_in_link(sandbox, world, amara)
    sandbox.clock.advance(timedelta(minutes=11))
    async with browser() as client:
        response, html = await signed_in(client, late)
        assert response.status == 403 and "expired" in html
        tampered = late.replace("token=", "token=9")
        response, html = await signed_in(client, tampered)
        assert response.status == 403 and "not valid" in html


async def test_sign_out_everywhere_ends_every_session(sandbox: Sandbox, world: World) -> None:
    await seed_module(sandbox)
    tomasz = world.person("tomaszz_stats")
    base = sandbox.app.web.url
    first, second = browser(), browser()
    try:
        await signed_in(first, await sign_in_link(sandbox, world, tomasz))
        _, html = await signed_in(second, await sign_in_link(sandbox, world, tomasz))
        csrf = re.search(r'name="csrf" value="([^"]+)"', html)
        assert csrf
        async with second.post(
            f"{base}/dashboard/signout-everywhere", data={"csrf": csrf.group(1)}
        ) as r:
            assert r.url.path == "/dashboard/signed-out"
        async with first.get(f"{base}/dashboard") as r:
            assert r.status == 401 and "not signed in" in await r.text()
    finally:
        await first.close()
        await second.close()


async def test_the_admin_sees_every_module_and_downloads_the_programme_gradebook(
    sandbox: Sandbox, world: World
) -> None:
    await seed_module(sandbox)
    admin = world.admins()[0]
    base = sandbox.app.web.url
    async with browser() as client:
        _, html = await signed_in(client, await sign_in_link(sandbox, world, admin))
        assert MODULE in html and OTHER_MODULE in html
        async with client.get(f"{base}/dashboard/cohort/gradebook.xlsx") as r:
            assert r.status == 200
            assert (await r.read())[:2] == b"PK"
    async with browser() as client:
        tutor = world.person("tomaszz_stats")
        await signed_in(client, await sign_in_link(sandbox, world, tutor))
        async with client.get(f"{base}/dashboard/cohort/gradebook.csv") as r:
            assert r.status == 403
            assert "Only programme admins can do that." in await r.text()
