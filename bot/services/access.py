"""Who may change an incident: the rule is the core's (`bot/core/access.py`); this asks the workspace who is in
the incident's channel and the responders group (the group's members are kept a minute: Slack lists them at
Tier 2, about 20 calls a minute)."""

from __future__ import annotations

import threading
import time

from bot.core.access import Privilege, refusal
from bot.core.incident import Incident
from bot.services.errors import UserError
from bot.services.ports import Workspace, WorkspaceError

GROUP_SECONDS = 60.0


class Access:
    def __init__(self, workspace: Workspace, responders_usergroup: str | None) -> None:
        self.workspace = workspace
        self.responders_usergroup = responders_usergroup
        self._lock = threading.Lock()
        self._group: tuple[float, set[str]] | None = None

    def require(self, incident: Incident, actor: str, privilege: Privilege) -> None:
        """Raises UserError, with the sentence for the person, when `actor` may not do it."""
        assert incident.channel_id is not None
        members = self.workspace.channel_members(incident.channel_id)
        why = refusal(incident, privilege, actor, members, self._responders())
        if why is not None:
            raise UserError(why)

    def _responders(self) -> set[str] | None:
        if not self.responders_usergroup:
            return None
        with self._lock:
            if self._group is not None and time.monotonic() - self._group[0] < GROUP_SECONDS:
                return self._group[1]
        try:
            members = set(self.workspace.usergroup_members(self.responders_usergroup))
        except WorkspaceError:
            raise UserError(
                f"The bot cannot read the responders group {self.responders_usergroup} from Slack right now, so it "
                "cannot check who may do this; try again shortly."
            ) from None
        with self._lock:
            self._group = (time.monotonic(), members)
        return members
