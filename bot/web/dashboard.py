"""The tutor dashboard's pages on the bot's own web server (``/dashboard``...).

Thin like a cog: find who is signed in, call one service in ``bot.dashboard``, render a
template. Sign-in links are consumed by a POST from their page (a chat app's link preview
fetching the URL must not use the link up). Every POST carries the session's CSRF token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dashboard import messages, reads, signin
from bot.db.engine import Database
from bot.db.models import DashboardSession
from bot.errors import NotFound, PermissionDenied, UserError
from bot.outbox import Outbox
from bot.web.svg import bar_chart

log = logging.getLogger(__name__)

COOKIE = "cohortbot_dashboard"
TEMPLATES = web.AppKey("dashboard_templates", jinja2.Environment)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


#: How long the message page waits for the outbox to send a tutor's message, to say truly
#: whether it was delivered (the commit woke the sender).
SETTLE_SECONDS = 5.0

Handler = Callable[[web.Request, DashboardSession, "reads.Viewer"], Awaitable[web.StreamResponse]]


@dataclass
class DashboardSources:
    db: Database
    clock: Callable[[], datetime]
    #: The bot's sender (None: no bot in this process, so nothing can be sent).
    outbox: Outbox | None
    public_url: str
    secret: str | None = None

    @property
    def secure_cookie(self) -> bool:
        return self.public_url.lower().startswith("https://")


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith("/dashboard"):
            exc.headers.update(SECURITY_HEADERS)
        raise
    if request.path.startswith("/dashboard"):
        response.headers.update(SECURITY_HEADERS)
    return response


def _page(
    request: web.Request, name: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    return aiohttp_jinja2.render_template(
        name,
        request,
        context,
        status=status,
        app_key=TEMPLATES,
    )


def add_dashboard_routes(app: web.Application, src: DashboardSources) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("bot.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        app_key=TEMPLATES,
    )
    env = app[TEMPLATES]
    env.globals["bar_chart"] = bar_chart

    async def current(request: web.Request) -> tuple[DashboardSession, reads.Viewer]:
        """The signed-in session and viewer, or a page that says how to sign in."""
        cookie = request.cookies.get(COOKIE)
        async with src.db.session() as session:
            row = await signin.session_for(session, cookie, src.clock())
            if row is None:
                raise _refusal(
                    request,
                    401,
                    "You are not signed in (or your session ended). Type /dashboard in the "
                    "cohort's server and open the link the bot sends you.",
                )
            try:
                viewer = await reads.load_viewer(session, row.person_id, row.cohort_id)
            except UserError as exc:
                raise _refusal(request, 403, str(exc)) from None
            session.expunge(row)
        return row, viewer

    def _refusal(request: web.Request, status: int, text: str) -> web.HTTPException:
        body = env.get_template("refused.html").render(message=text, status=status)
        cls: type[web.HTTPException] = {
            401: web.HTTPUnauthorized,
            403: web.HTTPForbidden,
            404: web.HTTPNotFound,
        }.get(status, web.HTTPBadRequest)
        return cls(text=body, content_type="text/html")

    def page(
        func: Callable[
            [web.Request, DashboardSession, reads.Viewer], Awaitable[web.StreamResponse]
        ],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Signed in, then the handler; a service's refusal becomes a page with its sentence."""

        async def handler(request: web.Request) -> web.StreamResponse:
            row, viewer = await current(request)
            if request.method == "POST":
                form = await request.post()
                if not signin.csrf_ok(row, str(form.get("csrf") or "")):
                    raise _refusal(
                        request,
                        403,
                        "The form's security token did not match: reload the page and try again.",
                    )
            try:
                return await func(request, row, viewer)
            except PermissionDenied as exc:
                raise _refusal(request, 403, str(exc)) from None
            except NotFound as exc:
                raise _refusal(request, 404, str(exc)) from None
            except UserError as exc:
                raise _refusal(request, 400, str(exc)) from None

        return handler

    def base(row: DashboardSession, viewer: reads.Viewer, **extra: Any) -> dict[str, Any]:
        return {"viewer": viewer, "csrf": row.csrf_token, **extra}

    def _int(request: web.Request, key: str) -> int:
        try:
            return int(request.match_info[key])
        except ValueError:
            raise web.HTTPNotFound() from None

    # ------------------------------------------------------------------ sign-in

    async def signin_page(request: web.Request) -> web.StreamResponse:
        token = request.query.get("token", "")
        return _page(request, "signin.html", {"token": token})

    async def signin_post(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = str(form.get("token") or "")
        now = src.clock()
        try:
            async with src.db.session() as session:
                key = await signin.signing_key(session, src.secret)
                signed = await signin.consume_link(session, key, token, now)
                max_age = int((signed.session.expires_at - now).total_seconds())
        except signin.SignInRefused as exc:
            raise _refusal(request, 403, str(exc)) from None
        response = web.HTTPSeeOther("/dashboard")
        response.set_cookie(
            COOKIE,
            signed.cookie,
            httponly=True,
            samesite="Lax",
            secure=src.secure_cookie,
            path="/dashboard",
            max_age=max_age,
        )
        raise response

    def signed_out_now() -> web.HTTPSeeOther:
        """To the signed-out page, the cookie gone (its session was just revoked)."""
        response = web.HTTPSeeOther("/dashboard/signed-out")
        response.del_cookie(COOKIE, path="/dashboard")
        return response

    @page
    async def signout(
        request: web.Request, row: DashboardSession, viewer: reads.Viewer
    ) -> web.StreamResponse:
        async with src.db.session() as session:
            await signin.revoke(session, row.id, src.clock())
        raise signed_out_now()

    @page
    async def signout_everywhere(
        request: web.Request, row: DashboardSession, viewer: reads.Viewer
    ) -> web.StreamResponse:
        async with src.db.session() as session:
            await signin.revoke_everywhere(session, viewer.person_id, src.clock())
        raise signed_out_now()

    async def signed_out(request: web.Request) -> web.StreamResponse:
        return _page(request, "refused.html", {"message": "You are signed out.", "status": 200})

    # ------------------------------------------------------------------ pages

    @page
    async def home(
        request: web.Request, row: DashboardSession, viewer: reads.Viewer
    ) -> web.StreamResponse:
        if not viewer.is_staff:
            raise web.HTTPSeeOther(f"/dashboard/student/{viewer.person_id}")
        async with src.db.session() as session:
            data = await reads.overview(session, viewer, src.clock())
        return _page(request, "overview.html", base(row, viewer, o=data, now=src.clock()))

    def item_page(
        read: Callable[[AsyncSession, reads.Viewer, int, datetime], Awaitable[Any]],
        key: str,
        template: str,
        name: str,
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """A page about one thing named in the path (``key``): read, then render as ``name``."""

        @page
        async def show(
            request: web.Request, row: DashboardSession, viewer: reads.Viewer
        ) -> web.StreamResponse:
            async with src.db.session() as session:
                data = await read(session, viewer, _int(request, key), src.clock())
            return _page(request, template, base(row, viewer, **{name: data}, now=src.clock()))

        return show

    module = item_page(reads.module_page, "module_id", "module.html", "m")
    student = item_page(reads.student_page, "person_id", "student.html", "s")
    exercise = item_page(reads.exercise_page, "exercise_id", "exercise.html", "e")

    @page
    async def export(
        request: web.Request, row: DashboardSession, viewer: reads.Viewer
    ) -> web.StreamResponse:
        file = await messages.download_export(
            src.db,
            viewer,
            module_id=_int(request, "module_id") if "module_id" in request.match_info else None,
            fmt=request.match_info["fmt"],
            now=src.clock(),
        )
        kind = (
            "text/csv; charset=utf-8"
            if file.filename.endswith(".csv")
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        return web.Response(
            body=file.data,
            headers={
                "Content-Type": kind,
                "Content-Disposition": f'attachment; filename="{file.filename}"',
            },
        )

    @page
    async def message(
        request: web.Request, row: DashboardSession, viewer: reads.Viewer
    ) -> web.StreamResponse:
        form = await request.post()
        module_id = _int(request, "module_id")
        try:
            recipient = int(str(form.get("person_id") or ""))
        except ValueError:
            raise NotFound("That person is not a student of this module.") from None
        if src.outbox is None:
            raise UserError("The bot is not connected to the chat platform right now.")
        queued = await messages.send_tutor_message(
            src.db,
            viewer,
            module_id=module_id,
            recipient_id=recipient,
            text=str(form.get("text") or ""),
            now=src.clock(),
        )
        await src.outbox.settle([queued.key], SETTLE_SECONDS)
        outcome = await messages.message_outcome(src.db, queued)
        return _page(
            request,
            "message_sent.html",
            base(row, viewer, outcome=outcome, module_id=module_id),
            status=200 if outcome.delivered else 202 if outcome.pending else 502,
        )

    app.router.add_get("/dashboard", home)
    app.router.add_get("/dashboard/signin", signin_page)
    app.router.add_post("/dashboard/signin", signin_post)
    app.router.add_get("/dashboard/signed-out", signed_out)
    app.router.add_post("/dashboard/signout", signout)
    app.router.add_post("/dashboard/signout-everywhere", signout_everywhere)
    app.router.add_get("/dashboard/module/{module_id}", module)
    app.router.add_get("/dashboard/module/{module_id}/gradebook.{fmt}", export)
    app.router.add_post("/dashboard/module/{module_id}/message", message)
    app.router.add_get("/dashboard/cohort/gradebook.{fmt}", export)
    app.router.add_get("/dashboard/student/{person_id}", student)
    app.router.add_get("/dashboard/exercise/{exercise_id}", exercise)
