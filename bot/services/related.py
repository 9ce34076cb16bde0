"""Related incidents: the earlier incidents that match this one (the same playbook, the same evidence, a similar
title), with what was done about them; or a search by text (`/incident similar`). A private incident is shown
only to the members of its channel, so it never appears in a channel message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bot.adapters.redis_store.approvals import ApprovalStore
from bot.adapters.redis_store.evidence import EvidenceStore
from bot.adapters.redis_store.incidents import IncidentStore
from bot.adapters.redis_store.messages import MessageStore
from bot.adapters.redis_store.walkthrough import WalkthroughStore
from bot.core.incident import Incident
from bot.core.related import Match, Past, related
from bot.runbook import Runbook
from bot.services.ports import Workspace

RECALLED = 500  # the most recent incidents compared


class RelatedService:
    def __init__(
        self,
        incidents: IncidentStore,
        steps: WalkthroughStore,
        evidence: EvidenceStore,
        approvals: ApprovalStore,
        messages: MessageStore,
        workspace: Workspace,
        runbook: Runbook,
    ) -> None:
        self.incidents = incidents
        self.steps = steps
        self.evidence = evidence
        self.approvals = approvals
        self.messages = messages
        self.workspace = workspace
        self.runbook = runbook

    def for_channel(self, incident: Incident, playbook: str | None = None) -> list[Match]:
        """Earlier incidents like `incident`, for its channel: public ones only (the channel's members are not
        those of a private incident), drills only for a drill. With `playbook`: the ones that ran it."""
        playbooks, evidence = ({playbook}, set()) if playbook is not None else self._remembered(incident)
        pasts = self._pasts(incident, lambda past: not past.private and past.drill == incident.drill)
        matches = related(incident.title, playbooks, evidence, pasts, self._titles())
        if playbook is not None:
            matches = [m for m in matches if playbook in m.past.playbooks]
        return self._with_switches(matches)

    def search(self, viewer: str, text: str, here: Incident | None) -> list[Match]:
        """`/incident similar [TEXT]`: by TEXT, or like the incident of this channel; private incidents only for
        the members of their channel."""
        like = here if here is not None and not text else None
        title = like.title if like else text
        playbooks, evidence = self._remembered(like) if like else (set(), set())

        def visible(past: Incident) -> bool:
            return not past.private or (
                past.channel_id is not None and viewer in self.workspace.channel_members(past.channel_id)
            )

        pasts = self._pasts(here, visible)
        return self._with_switches(related(title, playbooks, evidence, pasts, self._titles()))

    def _remembered(self, incident: Incident) -> tuple[set[str], set[str]]:
        """The playbooks an incident started and the probes that found evidence in it."""
        probed = self.evidence.get(incident.number)
        return set(self.steps.snapshot(incident.number).playbooks), probed.with_evidence() if probed else set()

    def _titles(self) -> dict[str, str]:
        return {p.key: f"{p.number}. {p.title}" for p in self.runbook.playbooks}

    def _pasts(self, current: Incident | None, keep: Callable[[Incident], bool]) -> list[Past]:
        candidates = [
            i
            for i in self.incidents.recent(RECALLED)
            if (current is None or i.number != current.number) and i.channel_id and keep(i)
        ]
        numbers = [i.number for i in candidates]
        playbooks = self.steps.playbooks_of(numbers)
        probed = self.evidence.many(numbers)
        return [
            Past(
                incident,
                frozenset(playbooks.get(incident.number, ())),
                frozenset(probed[incident.number].with_evidence() if incident.number in probed else ()),
            )
            for incident in candidates
        ]

    def _with_switches(self, matches: list[Match]) -> list[Match]:
        """The kill switches each match sent to the org, and its post-mortem (read only for the few shown)."""
        shown = []
        for match in matches:
            number = match.past.incident.number
            requests = self.approvals.all_of_incident(number).values()
            switches = tuple(r.title for r, outcome in requests if r.switch and outcome.sent_at and not r.reverts)
            past = replace(match.past, switches=switches, postmortem=self.messages.postmortem(number))
            shown.append(replace(match, past=past))
        return shown
