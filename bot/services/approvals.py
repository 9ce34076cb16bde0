"""Two-person approval of kill switches and destructive steps: what a request asks, who may approve it, the one
decision, expiry, and cancellation when the incident is resolved. Executing an approved request is
`bot/services/execution.py`'s job, in the worker."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import redis

from bot.adapters.redis_store.approvals import ApprovalStore, RevertAlreadyAsked
from bot.adapters.redis_store.incidents import IncidentStore
from bot.adapters.salesforce.errors import SalesforceError
from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.adapters.scheduler import Scheduler
from bot.core.access import Privilege
from bot.core.approval import (
    UNSENT,
    Action,
    ApprovalRequest,
    Move,
    Outcome,
    Refusal,
    RequestStatus,
    approvals_run,
    approvers_for,
    in_effect,
)
from bot.core.audit import AuditHead, AuditKind
from bot.core.clock import Clock
from bot.core.incident import Incident
from bot.jobs import JobName
from bot.kinds import kind_of
from bot.mechanisms import MECHANISMS, KillSwitch
from bot.mechanisms.base import FormField, Mechanism, OrgSetup, RequestError
from bot.runbook import Runbook
from bot.services.access import Access
from bot.services.audit import AuditService
from bot.services.errors import UserError, incident_or_refuse
from bot.services.ports import Workspace, WorkspaceError
from bot.services.walkthrough import WalkthroughService

logger = logging.getLogger(__name__)
# A failed or abandoned execution job runs again after these delays (seconds); its lease has lapsed by then.
EXECUTION_RETRIES = [30, 120, 300]


@dataclass(frozen=True)
class ApprovalPolicy:
    usergroup: str | None
    users: frozenset[str]
    expiry: timedelta
    lease_seconds: int

    @property
    def configured(self) -> bool:
        return bool(self.usergroup or self.users)


@dataclass(frozen=True)
class PanelLine:
    key: str
    title: str
    effect: str
    state: str


@dataclass(frozen=True)
class RequestForm:
    """What the request form shows and asks; `origin` says what the submission is about."""

    incident: Incident
    title: str
    effect: str
    fields: list[FormField]
    switch: str | None
    scope: str | None
    step: str | None


@dataclass(frozen=True)
class Requested:
    request: ApprovalRequest
    incident: Incident
    approvers: frozenset[str]
    direct: bool  # the approvers are a configured policy: each gets the card in a direct message


@dataclass(frozen=True)
class Decided:
    request: ApprovalRequest
    approved: bool


@dataclass(frozen=True)
class Refused:
    refusal: Refusal
    decided_by: str | None = None  # for a request already decided: who decided it
    status: RequestStatus | None = None


@dataclass(frozen=True)
class CardView:
    """What a request's card shows, read together when the card is drawn."""

    request: ApprovalRequest
    outcome: Outcome
    approvers: list[str] | None  # who may approve besides the requester; None: any other member of the channel
    head: AuditHead  # the incident's audit head, which the card shows


def has_a_revert(revert_id: str) -> str:
    """Why a switch cannot be asked to revert again: its revert exists (asked a moment ago, running or done)."""
    return f"This request has a revert already (`{revert_id}`): see its card."


class ApprovalService:
    def __init__(
        self,
        incidents: IncidentStore,
        approvals: ApprovalStore,
        audit: AuditService,
        walkthrough: WalkthroughService,
        workspace: Workspace,
        access: Access,
        org: SalesforceGateway | None,
        runbook: Runbook,
        setup: OrgSetup,
        scheduler: Scheduler,
        clock: Clock,
        policy: ApprovalPolicy,
    ) -> None:
        self.incidents = incidents
        self.approvals = approvals
        self.audit = audit
        self.walkthrough = walkthrough
        self.workspace = workspace
        self.access = access
        self.org = org
        self.runbook = runbook
        self.setup = setup
        self.scheduler = scheduler
        self.clock = clock
        self.policy = policy
        self._bot_user: str | None = None

    def _require_available(self, incident: Incident) -> None:
        if not approvals_run(self.org is not None, incident.drill):
            raise UserError(
                "Salesforce is not connected, so the bot cannot run kill switches; the panel in the first five "
                "minutes shows how to do each by hand, with a second person checking."
            )

    # ----- what the panel and the form show

    def panel(self, number: int) -> tuple[Incident, list[PanelLine]]:
        """The runbook's switches in priority order, with what the org says of each now (never a guess); without
        Salesforce only a drill has a panel, whose executions are dry runs."""
        incident = self._open(number)
        self._require_available(incident)
        lines = []
        for switch in self.runbook.switches.switches:
            if self.org is None:
                state = "a drill: executions are dry runs"
            else:
                state = switch.uses.state(self.org, switch.mechanism, self.setup)
            lines.append(PanelLine(switch.key, switch.title, switch.effect, state))
        return incident, lines

    def form(self, number: int, switch_key: str | None, scope: str | None, step_id: str | None) -> RequestForm:
        incident = self._open(number)
        self._require_available(incident)
        remembered = self.walkthrough.steps.parameters(number)
        if switch_key:
            switch = self._switch(switch_key)
            try:
                fields = switch.uses.form(switch.mechanism, self.setup, remembered, self.org)
            except RequestError as error:
                raise UserError(str(error)) from None
            return RequestForm(incident, switch.title, switch.effect, fields, switch.key, scope, step_id)
        step = self.walkthrough.runbook_step(scope or "", step_id or "")
        return RequestForm(incident, step.title, step.detail, [], None, scope, step_id)

    def target_errors(self, switch_key: str | None, target: Mapping[str, str]) -> dict[str, str]:
        """What is wrong with a request form's values, by field (shown under it, before anything is asked)."""
        switch = self.runbook.switches.get(switch_key or "")
        if switch is None:
            return {}
        try:
            switch.uses.change(switch.mechanism, target, self.setup)
        except RequestError as error:
            return {error.field or "reason": str(error)}
        return {}

    # ----- requesting

    def request(
        self,
        number: int,
        requester: str,
        reason: str,
        switch_key: str | None,
        scope: str | None,
        step_id: str | None,
        target: Mapping[str, str],
    ) -> Requested:
        incident = self._open(number)
        self._require_available(incident)
        self.access.require(incident, requester, Privilege.REQUEST)
        if switch_key:
            switch = self._switch(switch_key)
            mechanism, title, revertible = switch.uses, f"{switch.title} ({switch.effect})", switch.uses.revertible
            try:
                change = mechanism.change(switch.mechanism, target, self.setup)
            except RequestError as error:
                raise UserError(str(error)) from None
            if not incident.drill:
                self._refuse_in_effect(incident, switch_key, switch.title)
                self._refuse_in_place(mechanism, change)
        else:
            step = self.walkthrough.step(number, scope, step_id) if scope and step_id else None
            need = kind_of(step).approval(step, self.walkthrough.values(step)) if step else None
            if step is None or need is None or need.mechanism is None:
                raise UserError("That request names no kill switch and no destructive step.")
            mechanism, title, revertible, change = MECHANISMS[need.mechanism], step.title, False, need.change
        now = self.clock.now()
        request = ApprovalRequest(
            id=uuid.uuid4().hex[:10],
            incident=number,
            title=title,
            mechanism=mechanism.name,
            switch=switch_key,
            scope=scope,
            step=step_id,
            target=mechanism.target(change),
            change=change,
            plan=mechanism.plan(change),
            requester=requester,
            reason=reason,
            created_at=now,
            expires_at=now + self.policy.expiry,
            drill=incident.drill,
            private=incident.private,
            revertible=revertible and mechanism.revertible,
            guided=mechanism.guided,
        )
        return self._submit(incident, request, AuditKind.REQUESTED)

    def _refuse_in_effect(self, incident: Incident, switch_key: str, title: str) -> None:
        """A switch this incident already threw is not thrown again: its revert would restore nothing."""
        held = in_effect(self.approvals.all_of_incident(incident.number), switch_key)
        if held is not None:
            raise UserError(
                f"“{title}” is already in effect in {incident.reference}: request `{held.id}` by {{requester}} did it. "
                "Use the Revert button on its card to undo it; nothing was requested.",
                requester=held.requester,
            )

    def _refuse_in_place(self, mechanism: Mechanism, change: Mapping[str, object]) -> None:
        """Read the org before asking anyone: a change it already shows is not requested (its revert would
        "restore" the same value). When the org cannot be read now, the execution reads it again before sending. A
        mechanism that cannot read back reads nothing here and finds nothing in place."""
        if self.org is None or mechanism.guided:
            return
        try:
            seen = mechanism.in_place(change, mechanism.prepare(self.org, change))
        except (SalesforceError, RequestError) as error:
            logger.info("could not read the org before a request: %s", type(error).__name__)
            return
        if seen is not None:
            raise UserError(f"The org already shows this change ({seen}): nothing to request, nothing was sent.")

    def revertible(self, approval_id: str, requester: str) -> tuple[ApprovalRequest, Outcome, Incident]:
        """The request `requester` may ask to revert now, or a UserError that says why not: asked when the Revert
        button is clicked (before its form opens) and again when the form is submitted."""
        original, outcome = self._get(approval_id)
        incident = incident_or_refuse(self.incidents.get(original.incident), original.incident, open_only=False)
        self._require_available(incident)
        self.access.require(incident, requester, Privilege.REQUEST)
        if original.revertible and outcome.reverted_by:
            raise UserError(has_a_revert(outcome.reverted_by))
        if not original.revertible or not outcome.revertible_now:  # a drill's request is never executed
            raise UserError("Only an executed, revertible kill switch can be reverted.")
        return original, outcome, incident

    def request_revert(self, approval_id: str, requester: str, reason: str) -> Requested:
        """A revert is asked for like any change, two people as always, and also after the incident is resolved (a
        switch left on must still come off)."""
        original, outcome, incident = self.revertible(approval_id, requester)
        mechanism = MECHANISMS[original.mechanism]
        try:
            change = mechanism.revert(original.change, outcome.prior)
        except RequestError as error:
            raise UserError(str(error)) from None
        now = self.clock.now()
        request = original.model_copy(
            update={
                "id": uuid.uuid4().hex[:10],
                "action": Action.REVERT,
                "reverts": original.id,
                "change": change,  # aimed at what the original was: its target stays
                "plan": mechanism.plan(change),
                "requester": requester,
                "reason": reason,
                "created_at": now,
                "expires_at": now + self.policy.expiry,
                "revertible": False,
            }
        )
        return self._submit(incident, request, AuditKind.REVERT_REQUESTED)

    def _submit(self, incident: Incident, request: ApprovalRequest, kind: AuditKind) -> Requested:
        """The request and its "requested" entry in one step (a revert also marks what it reverts, in the same
        step: a request refused before it exists leaves its switch revertible)."""
        approvers = self._approvers(incident, request.requester)
        request = request.model_copy(update={"approvers_from_channel": not self.policy.configured})
        details = {
            "title": request.title,
            "reason": request.reason,
            "plan": request.plan,
            "target": request.target,
            "approvers": sorted(approvers),
        }
        summary = f"{kind.value}: {request.title}: {request.reason}"
        try:
            self.approvals.create(
                request, approvers, self.audit.entry(request, kind, request.requester, summary, details)
            )
        except RevertAlreadyAsked as asked:
            raise UserError(has_a_revert(str(asked))) from None
        self.scheduler.schedule(
            request.expires_at, JobName.EXPIRE_REQUEST, request.id, job_id=self.scheduler.job_id("expire", request.id)
        )
        return Requested(request, incident, approvers, direct=self.policy.configured)

    def _approvers(self, incident: Incident, requester: str) -> frozenset[str]:
        """Who may approve, fixed now; a policy that yields nobody refuses the request, and says why. Without a
        policy: the channel's other members who may act in the incident (the responders group, when set)."""
        group_members: frozenset[str] | None = None
        channel: frozenset[str] = frozenset()
        if self.policy.usergroup:
            try:
                group_members = frozenset(self.workspace.usergroup_members(self.policy.usergroup))
            except WorkspaceError:
                group_members = None
        if not self.policy.configured:
            assert incident.channel_id is not None
            channel = frozenset(self.access.may_act(incident) - {self.bot_user()})
        approvers, why = approvers_for(requester, self.policy.users, self.policy.usergroup, group_members, channel)
        if why is not None:
            raise UserError(f"Nobody can approve this request: {why}. Nothing was requested.")
        return approvers

    def bot_user(self) -> str:
        if self._bot_user is None:
            self._bot_user = self.workspace.bot_user_id()
        return self._bot_user

    # ----- deciding

    def decide(self, approval_id: str, actor: str, approve: bool) -> Decided | Refused:
        """One atomic decision with its audit entry; a refused click is audited and told why, and runs nothing.

        The decision is in Redis before the execution is queued: if queueing fails (Redis gone a moment, the
        process dying), the worker's sweep finds the request approved and not sent, and sends it on."""
        found = self.approvals.get(approval_id)
        if found is None:
            return Refused(Refusal.MISSING)
        request, _ = found
        refusal = self._authority(request, actor, approve)
        kind = AuditKind.APPROVED if approve else AuditKind.DENIED
        if refusal is None:
            audit = self.audit.entry(request, kind, actor, f"{kind.value} by {actor}: {request.title}")
            refusal = self.approvals.decide(request, actor, approve, self.clock.now(), audit)
        if refusal is not None:
            current = self.approvals.get(approval_id)
            refused = Refused(refusal)
            if current and refusal is Refusal.DECIDED:
                refused = Refused(refusal, current[1].decided_by, current[1].status)
            self.audit.record(
                self.audit.entry(
                    request, AuditKind.REFUSED, actor, f"refused {actor}: {refusal.value}", {"refusal": refusal.name}
                )
            )
            return refused
        try:
            self.scheduler.cancel(self.scheduler.job_id("expire", request.id))
            if approve:
                self.send_on(request)
        except redis.RedisError:
            logger.warning("request %s approved; its execution will be queued by the worker's sweep", request.id)
        return Decided(request, approve)

    def _authority(self, request: ApprovalRequest, actor: str, approve: bool) -> Refusal | None:
        """Who clicks, checked as they click: never a guest, and without an approver policy someone who may act
        in the incident now (the approvers set, fixed at request time, is checked by the decision's script)."""
        if not approve and actor == request.requester:
            return None  # withdrawing one's own request
        incident = self.incidents.get(request.incident)
        if incident is None:
            return Refusal.MISSING
        return self.access.approver_refusal(incident, actor, channel_rule=request.approvers_from_channel)

    def send_on(self, request: ApprovalRequest) -> None:
        """Queues the execution of an approved request (once: the job id is the request's)."""
        self.scheduler.enqueue(
            JobName.EXECUTE_REQUEST,
            request.id,
            job_id=self.scheduler.job_id("execute", request.id),
            retry_after=EXECUTION_RETRIES,
            timeout=self.policy.lease_seconds,
            execution=True,
        )

    def sweep(self) -> list[str]:
        """The worker's sweep: every request approved and not sent whose execution is not queued is queued again
        (the web process that approved it may have died before it could). Returns the ids queued."""
        queued = []
        for request, outcome in self.approvals.unsent().values():
            if outcome.status in UNSENT and not self.scheduler.pending(self.scheduler.job_id("execute", request.id)):
                self.send_on(request)
                queued.append(request.id)
        return queued

    def expire(self, approval_id: str) -> ApprovalRequest | None:
        """Marks a request nobody approved in time as expired; the request when it did."""
        found = self.approvals.get(approval_id)
        if found is None or self.clock.now() < found[0].expires_at:
            return None
        request = found[0]
        audit = self.audit.entry(request, AuditKind.EXPIRED, None, f"expired without a second person: {request.title}")
        if not self.approvals.move(request, Move.EXPIRE, audit=audit):
            return None
        return request

    def cancel_open(self, number: int, actor: str) -> list[str]:
        """Resolving: requests pending, approved but not sent, or waiting for a person are cancelled (audited),
        so nothing changes the org after resolve without a new request; a revert goes on (a switch left on must
        still come off). Returns the ids cancelled."""
        cancelled = []
        for approval_id, (request, _) in self.approvals.all_of_incident(number).items():
            if request.action is Action.REVERT:
                continue
            audit = self.audit.entry(
                request, AuditKind.CANCELLED, actor, f"cancelled, the incident was resolved: {request.title}"
            )
            if not self.approvals.move(request, Move.CANCEL, audit=audit):
                continue
            self.scheduler.cancel(self.scheduler.job_id("expire", approval_id))
            cancelled.append(approval_id)
        return cancelled

    def still_in_effect(self, number: int) -> list[ApprovalRequest]:
        """The incident's kill switches that may still be in effect in the org (resolving lists them)."""
        requests = self.approvals.all_of_incident(number)
        keys = dict.fromkeys(request.switch for request, _ in requests.values() if request.switch)
        return [held for key in keys if key and (held := in_effect(requests, key)) is not None]

    # ----- helpers

    def targets(self, number: int, name: str) -> set[str]:
        """What the incident's requests named in their form field `name` (the users a lockout targeted)."""
        requests = self.approvals.all_of_incident(number).values()
        return {request.target[name] for request, _ in requests if name in request.target}

    def get(self, approval_id: str) -> tuple[ApprovalRequest, Outcome]:
        return self._get(approval_id)

    def cards(self, approval_id: str) -> list[tuple[str, str]]:
        """Where the request's cards are (channel, message ts): the only places its buttons may come from."""
        return self.approvals.cards(approval_id)

    def card_posted(self, approval_id: str, channel: str, ts: str) -> None:
        """A card of the request was posted there: its buttons may come from it."""
        self.approvals.add_card(approval_id, channel, ts)

    def card_view(self, approval_id: str) -> CardView:
        request, outcome = self._get(approval_id)
        approvers = None
        if not request.approvers_from_channel:
            approvers = sorted(self.approvals.approvers(approval_id) - {request.requester})
        return CardView(request, outcome, approvers, self.audit.head(request.incident))

    def _get(self, approval_id: str) -> tuple[ApprovalRequest, Outcome]:
        found = self.approvals.get(approval_id)
        if found is None:
            raise UserError(Refusal.MISSING.value)
        return found

    def _open(self, number: int) -> Incident:
        return incident_or_refuse(self.incidents.get(number), number, open_only=True)

    def _switch(self, key: str) -> KillSwitch:
        switch = self.runbook.switches.get(key)
        if switch is None:
            known = ", ".join(f"`{s.key}`" for s in self.runbook.switches.switches)
            raise UserError(f"There is no kill switch `{key}`; the switches are {known}.")
        return switch
