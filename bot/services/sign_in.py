"""Signing in to the web view with Slack: a sign-in begun with a single-use state and nonce, finished only for a
member of the bot's own workspace who is not a guest, and a session that expires and ends at sign-out."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from bot.adapters.redis_store.web import WebStore
from bot.services.ports import IdentityProvider, SignInFailed, Workspace, WorkspaceError

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/auth/slack/callback"
SIGN_IN_SECONDS = 600  # from the click on "Sign in with Slack" to Slack's redirect back


class SignInRefused(Exception):
    """One sentence for the person whose sign-in did not go through."""


@dataclass(frozen=True)
class Viewer:
    user_id: str
    team_id: str
    name: str


@dataclass(frozen=True)
class Session:
    id: str
    viewer: Viewer
    return_to: str


def local_path(path: str | None) -> str:
    """Where to return after sign-in: a path of this site only (`/incidents/3?x=1`), else `/`."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")) or any(c in path for c in "\r\n\\"):
        return "/"
    return path


class SignIn:
    def __init__(
        self,
        provider: IdentityProvider,
        store: WebStore,
        workspace: Workspace,
        base_url: str,
        session_hours: int,
    ) -> None:
        self.provider = provider
        self.store = store
        self.workspace = workspace
        self.redirect_uri = base_url.rstrip("/") + CALLBACK_PATH
        self.session_length = timedelta(hours=session_hours)

    def begin(self, return_to: str | None) -> str:
        """The address of Slack's sign-in page for a new, single-use sign-in."""
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.store.begin_sign_in(state, {"nonce": nonce, "return_to": local_path(return_to)}, SIGN_IN_SECONDS)
        return self.provider.authorize_url(state, nonce, self.redirect_uri)

    def finish(self, code: str | None, state: str | None, error: str | None = None) -> Session:
        """The session of the person Slack sent back; SignInRefused when the callback is not one to honour."""
        record = self.store.take_sign_in(state) if state else None
        if record is None:
            raise SignInRefused(
                "This sign-in link was already used, has expired, or was not started here: sign in again."
            )
        if error or not code:
            raise SignInRefused(f"Slack did not sign you in ({error or 'no code came back'}).")
        try:
            identity = self.provider.identify(code, self.redirect_uri, record["nonce"])
            if identity.team_id != self.workspace.team_id():
                raise SignInRefused("You signed in to another Slack workspace; these pages are for this bot's own.")
            if self.workspace.is_guest(identity.user_id):
                raise SignInRefused("Guests of the workspace cannot read incidents here.")
        except SignInFailed as failed:
            raise SignInRefused(str(failed)) from None
        except WorkspaceError as failed:
            logger.warning("sign-in: %s", failed)
            raise SignInRefused("Slack could not be asked who you are just now: try again in a minute.") from None
        session_id = secrets.token_urlsafe(32)
        viewer = Viewer(identity.user_id, identity.team_id, identity.name)
        self.store.open_session(
            session_id,
            {"user_id": viewer.user_id, "team_id": viewer.team_id, "name": viewer.name},
            int(self.session_length.total_seconds()),
        )
        logger.info("web sign-in: %s", viewer.user_id)
        return Session(session_id, viewer, record["return_to"])

    def viewer(self, session_id: str | None) -> Viewer | None:
        record = self.store.session(session_id) if session_id else None
        return Viewer(record["user_id"], record["team_id"], record["name"]) if record else None

    def sign_out(self, session_id: str | None) -> None:
        if session_id:
            self.store.close_session(session_id)
