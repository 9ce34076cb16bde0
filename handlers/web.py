"""The web view's routes: sign in with Slack, the incidents, one incident, insights and its CSV. Thin, as the Bolt
listeners are: read the request, ask a service, render. Every response carries the security headers."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, redirect, request

from bot.core.severity import Severity
from bot.render.web import STATIC, WebRenderer
from bot.services.sign_in import CALLBACK_PATH, SignInRefused, Viewer
from bot.services.web_view import BadFilter, Filters

if TYPE_CHECKING:
    from bot.app import Services

SESSION_COOKIE = "incident_session"
TURN_ON = (
    "The web view is off. Set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (the Slack app's Basic Information page), "
    "WEB_BASE_URL (this site's public address) and WEB_SESSION_SECRET (`openssl rand -hex 32`), and add "
    "WEB_BASE_URL + /auth/slack/callback to the app's redirect URLs."
)


def security_headers(response: Response) -> Response:
    """Only this origin's scripts, styles and images; never framed; no referrer to other sites."""
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.path != "/static/web.css" and request.path != "/static/live.js":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def register_web(flask_app: Flask, services: Services) -> None:
    """The pages, on the app that also serves Slack's events; without SLACK_CLIENT_ID, `/` says how to turn
    them on."""
    flask_app.after_request(security_headers)
    renderer = WebRenderer(services.timezone)
    pages = Blueprint("web", __name__, static_folder=str(STATIC), static_url_path="/static")
    web = services.web
    secure = bool(services.settings.web_base_url and services.settings.web_base_url.startswith("https://"))

    def html(template: str, status: int = 200, viewer: Viewer | None = None, **context: object) -> Response:
        body = renderer.page(template, viewer=viewer, **context)
        return Response(body, status=status, mimetype="text/html")

    def message(
        title: str, *lines: str, status: int, link: dict[str, str] | None = None, viewer: Viewer | None = None
    ) -> Response:
        return html("message.html", status, viewer, title=title, lines=lines, link=link)

    def signed_in() -> Viewer | None:
        return web.sign_in.viewer(request.cookies.get(SESSION_COOKIE)) if web else None

    def sign_in_first() -> Response:
        here = request.full_path.rstrip("?")
        return message(
            "Sign in",
            "Incidents are for the members of this Slack workspace.",
            status=401,
            link={"href": "/auth/slack/login?" + urlencode({"next": here}), "text": "Sign in with Slack"},
        )

    @pages.get("/")
    def incident_list() -> Response:
        if web is None:
            return message("Incidents", TURN_ON, status=200)
        viewer = signed_in()
        if viewer is None:
            return sign_in_first()
        try:
            filters = Filters.parse(request.args)
        except BadFilter as bad:
            return message("Incidents", str(bad), status=400, link={"href": "/", "text": "All incidents"})
        listing = web.view.incident_list(viewer, filters)
        names = web.view.names(row.incident.commander for row in listing.rows)
        return html(
            "incidents.html",
            viewer=viewer,
            title="Incidents",
            listing=listing,
            filters=filters,
            names=names,
            severities=list(Severity),
            query=lambda **changes: urlencode(filters.query(**changes)),
        )

    @pages.get("/incidents/<int:number>")
    def incident_page(number: int) -> Response:
        if web is None:
            return message("Incidents", TURN_ON, status=404)
        viewer = signed_in()
        if viewer is None:
            return sign_in_first()
        page = web.view.incident_page(viewer, number)
        if page is None:
            everything = {"href": "/", "text": "All incidents"}
            sentence = f"There is no incident {number}."
            return message("No such incident", sentence, status=404, link=everything, viewer=viewer)
        names = page.names
        return html(
            "incident.html",
            viewer=viewer,
            title=f"{page.incident.reference}: {page.incident.title}",
            page=page,
            who=lambda user: names.get(user, user) if user else "–",
            text=lambda text: renderer.with_names(text, names),
            timeline_rows=renderer.timeline(page.timeline, names),
        )

    @pages.get("/incidents/<int:number>/version")
    def incident_version(number: int) -> Response | tuple[dict[str, str], int]:
        viewer = signed_in()
        if web is None or viewer is None:
            return {"error": "sign in"}, 401
        version = web.view.visible_version(viewer, number)
        if version is None:
            return {"error": "no such incident"}, 404
        return {"version": version}, 200

    @pages.get("/insights")
    def insights() -> Response:
        if web is None:
            return message("Insights", TURN_ON, status=404)
        viewer = signed_in()
        if viewer is None:
            return sign_in_first()
        rows = web.view.insights(viewer)
        return html("insights.html", viewer=viewer, title="Insights", rows=rows, charts=renderer.charts(rows))

    @pages.get("/insights.csv")
    def insights_csv() -> Response:
        viewer = signed_in()
        if web is None or viewer is None:
            return sign_in_first()
        body = renderer.csv(web.view.insights(viewer))
        response = Response(body, mimetype="text/csv")
        response.headers["Content-Disposition"] = 'attachment; filename="incident-insights.csv"'
        return response

    @pages.get("/auth/slack/login")
    def login() -> Response:
        if web is None:
            return message("Sign in", TURN_ON, status=404)
        return redirect(web.sign_in.begin(request.args.get("next")), code=302)  # type: ignore[return-value]

    @pages.get(CALLBACK_PATH)
    def callback() -> Response:
        if web is None:
            return message("Sign in", TURN_ON, status=404)
        try:
            session = web.sign_in.finish(request.args.get("code"), request.args.get("state"), request.args.get("error"))
        except SignInRefused as refused:
            again = {"href": "/auth/slack/login", "text": "Sign in again"}
            return message("Not signed in", str(refused), status=400, link=again)
        response = redirect(session.return_to, code=302)
        response.set_cookie(
            SESSION_COOKIE,
            session.id,
            max_age=int(web.sign_in.session_length.total_seconds()),
            httponly=True,
            samesite="Lax",
            secure=secure,
            path="/",
        )
        return response  # type: ignore[return-value]

    @pages.post("/auth/signout")
    def sign_out() -> Response:
        if web is not None:
            web.sign_in.sign_out(request.cookies.get(SESSION_COOKIE))
        response = message("Signed out", "You are signed out.", status=200, link={"href": "/", "text": "Sign in again"})
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=secure)
        return response

    flask_app.register_blueprint(pages)
