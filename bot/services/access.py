"""Who may change an incident: the rule is the core's (`bot/core/access.py`); this asks the workspace who is in
the incident's channel, in the responders group, and who is a guest.

What Slack says is kept a little while, so that twenty clicks a second do not become twenty calls (members of a
channel and of a group are Tier 4 and Tier 2 calls): a channel's members for `MEMBERS_SECONDS`, asked again at
once when someone not among them acts (so a person who just joined is not refused); the group's members a
minute; whether someone is a guest five minutes. Someone removed from the channel may still act for up to
`MEMBERS_SECONDS`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from bot.core.access import Privilege, may_act, refusal
from bot.core.approval import Refusal
from bot.core.incident import Incident
from bot.services.errors import UserError
from bot.services.ports import Workspace, WorkspaceError

MEMBERS_SECONDS = 30.0
GROUP_SECONDS = 60.0
GUEST_SECONDS = 300.0
T = TypeVar("T")


class Access:
    def __init__(self, workspace: Workspace, responders_usergroup: str | None) -> None:
        self.workspace = workspace
        self.responders_usergroup = responders_usergroup
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, object]] = {}

    def require(self, incident: Incident, actor: str, privilege: Privilege) -> None:
        """Raises UserError, with the sentence for the person, when `actor` may not do it."""
        why = refusal(
            incident, privilege, actor, self._members(incident, actor), self._responders(), self._guest(actor)
        )
        if why is not None:
            raise UserError(why)

    def may_act(self, incident: Incident) -> set[str]:
        """The channel's members who may act in the incident (guests aside)."""
        return may_act(self._members(incident, None), self._responders())

    def approver_refusal(self, incident: Incident, actor: str, *, channel_rule: bool) -> Refusal | None:
        """Why `actor` may not approve now: a guest never; without an approver policy (`channel_rule`), only
        someone who may act in the incident."""
        if self._guest(actor):
            return Refusal.GUEST
        if not channel_rule:
            return None
        if actor not in self._members(incident, actor):
            return Refusal.UNAUTHORIZED
        responders = self._responders()
        return Refusal.NOT_RESPONDER if responders is not None and actor not in responders else None

    def _members(self, incident: Incident, actor: str | None) -> set[str]:
        assert incident.channel_id is not None
        channel = incident.channel_id
        members = self._kept_for(f"channel:{channel}", MEMBERS_SECONDS, lambda: self.workspace.channel_members(channel))
        if actor is not None and actor not in members:  # joined since it was asked: ask again
            members = self._ask(f"channel:{channel}", lambda: self.workspace.channel_members(channel))
        return members

    def _responders(self) -> set[str] | None:
        group = self.responders_usergroup
        if not group:
            return None
        try:
            return self._kept_for(f"group:{group}", GROUP_SECONDS, lambda: set(self.workspace.usergroup_members(group)))
        except WorkspaceError:
            raise UserError(
                f"The bot cannot read the responders group {group} from Slack right now, so it cannot check who "
                "may do this; try again shortly."
            ) from None

    def _guest(self, user: str) -> bool:
        return self._kept_for(f"guest:{user}", GUEST_SECONDS, lambda: self.workspace.is_guest(user))

    def _kept_for(self, key: str, seconds: float, ask: Callable[[], T]) -> T:
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and time.monotonic() - kept[0] < seconds:
            return kept[1]  # type: ignore[return-value]
        return self._ask(key, ask)

    def _ask(self, key: str, ask: Callable[[], T]) -> T:
        value = ask()
        with self._lock:
            self._kept[key] = (time.monotonic(), value)
        return value
