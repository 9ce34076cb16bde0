"""Kill switches and destructive steps behind two-person approval: request, decide once, execute once in
the worker, verify by reading the org back, audit every move, and revert through the same gate."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.adapters.redis_store import ApprovalStore, AuditStore, IncidentStore
from bot.adapters.salesforce import SalesforceError, SalesforceGateway
from bot.adapters.scheduler import Scheduler, job_id
from bot.adapters.slack_api import SlackApi, SlackCallFailed
from bot.adapters.soql import abort_cron_apex, cron_soql, permission_set_assignments_soql
from bot.core.approval import (
    Action,
    ApprovalRequest,
    Outcome,
    Refusal,
    RequestStatus,
    fm_config_changes,
    fm_config_fields,
    is_revertible,
)
from bot.core.audit import AuditEntry, AuditKind
from bot.core.clock import Clock
from bot.core.incident import Incident
from bot.core.playbook import (
    CronAbort,
    KillSwitch,
    PermissionSetRevocation,
    Step,
    StepKind,
    render_apex,
    window_values,
)
from bot.core.runbook import Runbook
from bot.core.walkthrough import StepAction, after, allowed_from
from bot.render.blocks import Blocks
from bot.render.mrkdwn import user
from bot.render.switches import card, panel, request_form, revert_form
from bot.services.errors import UserError
from bot.services.walkthrough import WalkthroughService

logger = logging.getLogger(__name__)
REFRESH_APEX = "FMConfig.refresh();"
# A failed or abandoned execution job runs again after these delays (seconds); its claim has lapsed by then.
EXECUTION_RETRIES = [30, 120, 300]
Reply = Callable[[str, Blocks], None]


@dataclass(frozen=True)
class ApprovalPolicy:
    usergroup: str | None
    users: frozenset[str]
    expiry: timedelta
    lease_seconds: int


class KillSwitchService:
    def __init__(
        self,
        incidents: IncidentStore,
        approvals: ApprovalStore,
        audit: AuditStore,
        walkthrough: WalkthroughService,
        slack: SlackApi,
        gateway: SalesforceGateway | None,
        runbook: Runbook,
        scheduler: Scheduler,
        clock: Clock,
        timezone: ZoneInfo,
        policy: ApprovalPolicy,
        fm_config_record: str,
        key_prefix: str,
        on_contained: Callable[[int, datetime], None],
    ) -> None:
        self.incidents = incidents
        self.approvals = approvals
        self.audit = audit
        self.walkthrough = walkthrough
        self.slack = slack
        self.gateway = gateway
        self.runbook = runbook
        self.scheduler = scheduler
        self.clock = clock
        self.timezone = timezone
        self.policy = policy
        self.record = f"FM_Config.{fm_config_record}"
        self.key_prefix = key_prefix
        self.on_contained = on_contained
        self._bot_user: str | None = None

    # ----- the gate the walkthrough uses

    def available(self, incident: Incident) -> bool:
        """Approvals run when the bot can reach the org, and always in drills (their executions are dry runs)."""
        return self.gateway is not None or incident.drill

    def show_panel(self, incident: Incident, reply: Reply) -> None:
        states = self._states() if not incident.drill else {}
        reply(*panel(incident.number, self.runbook.switches.switches, states, incident.drill))

    def open_request(
        self,
        incident: Incident,
        scope: str | None,
        step: Step | None,
        switch_key: str | None,
        trigger_id: str,
        reply_to: str,
    ) -> None:
        switch = self._switch(switch_key) if switch_key else None
        title = switch.title if switch else (step.title if step else "?")
        remembered = self.walkthrough.steps.parameters(incident.number).get("suspect_user_id")
        metadata = {
            "incident": incident.number,
            "switch": switch_key,
            "scope": scope,
            "step": step.id if step else None,
            "response_url": reply_to,
        }
        self.slack.open_view(trigger_id, request_form(switch, title, metadata, remembered))

    def _states(self) -> dict[str, str]:
        """What the org says now, per switch, where it can be read; never a guess."""
        if self.gateway is None:
            return {s.key: "state unknown: Salesforce is not connected" for s in self.runbook.switches.switches}
        states: dict[str, str] = {}
        try:
            values = self.gateway.read_custom_metadata(self.record)
        except SalesforceError as error:
            values, reason = {}, str(error)
        else:
            reason = ""
        for switch in self.runbook.switches.switches:
            mechanism = switch.mechanism
            if isinstance(mechanism, PermissionSetRevocation):
                states[switch.key] = "per user: asks which user"
            elif isinstance(mechanism, CronAbort):
                states[switch.key] = self._cron_state(mechanism.job_name)
            elif values:
                fields = fm_config_fields(switch)
                states[switch.key] = "now: " + ", ".join(f"{f} = {values.get(f)}" for f in fields)
            else:
                states[switch.key] = f"state unknown: {reason}"
        return states

    def _cron_state(self, job_name: str) -> str:
        assert self.gateway is not None
        try:
            rows = self.gateway.query(cron_soql(job_name)).records
        except SalesforceError as error:
            return f"state unknown: {error}"
        return f"now: scheduled ({rows[0].get('State')})" if rows else "now: not scheduled"

    # ----- requesting

    def request(
        self,
        number: int,
        requester: str,
        reason: str,
        switch_key: str | None,
        scope: str | None,
        step_id: str | None,
        target: dict[str, str],
    ) -> ApprovalRequest:
        incident = self._open(number)
        if not self.available(incident):
            raise UserError(
                "Salesforce is not connected, so the bot cannot run this; do it by hand with a second person checking."
            )
        switch = self._switch(switch_key) if switch_key else None
        step = self.runbook.step(scope, step_id) if scope and step_id else None
        if switch is None and (step is None or step.kind is not StepKind.APEX):
            raise UserError("That request names no kill switch and no destructive step.")
        now = self.clock.now()
        if switch is not None:
            changes = fm_config_changes(switch, target)
            apex = abort_cron_apex(switch.mechanism.job_name) if isinstance(switch.mechanism, CronAbort) else None
            title, plan = f"{switch.title} ({switch.effect})", self._switch_plan(switch, target, changes)
        else:
            assert step is not None
            changes = {}
            apex = render_apex(step, {**window_values(step, now)})
            title, plan = step.title, [f"Tooling API executeAnonymous:\n{apex}"]
        request = ApprovalRequest(
            id=uuid.uuid4().hex[:10],
            incident=number,
            title=title,
            switch=switch_key,
            scope=scope,
            step=step_id,
            target=target,
            changes=changes,
            apex=apex,
            plan=plan,
            requester=requester,
            reason=reason,
            created_at=now,
            expires_at=now + self.policy.expiry,
            drill=incident.drill,
            revertible=is_revertible(switch),
        )
        return self._submit(incident, request, AuditKind.REQUESTED)

    def open_revert(self, approval_id: str, trigger_id: str, reply_to: str) -> None:
        found = self.approvals.get(approval_id)
        if found is None:
            raise UserError("That request no longer exists.")
        metadata = {"approval": approval_id, "response_url": reply_to}
        self.slack.open_view(trigger_id, revert_form(found[0], metadata))

    def request_revert(self, approval_id: str, requester: str, reason: str) -> ApprovalRequest:
        found = self.approvals.get(approval_id)
        if found is None:
            raise UserError("That request no longer exists.")
        original, outcome = found
        incident = self._open(original.incident)
        if not original.revertible or original.drill or outcome.status is not RequestStatus.EXECUTED:
            raise UserError("Only an executed, revertible kill switch can be reverted.")
        if outcome.reverted_by:
            raise UserError(f"A revert of this was already requested (`{outcome.reverted_by}`).")
        now = self.clock.now()
        switch = self._switch(original.switch or "")
        restore: dict[str, str] = {}
        changes: dict[str, str] = {}
        if isinstance(switch.mechanism, PermissionSetRevocation):
            restore = {name: set_id for name, set_id in outcome.prior.items() if set_id}
            plan = [
                f"REST create PermissionSetAssignment: AssigneeId {original.target['user_id']}, "
                f"PermissionSetId {set_id} ({name})"
                for name, set_id in restore.items()
            ]
        else:
            changes = {field: value or "" for field, value in outcome.prior.items()}
            plan = self._fm_plan(changes)
        request = ApprovalRequest(
            id=uuid.uuid4().hex[:10],
            incident=original.incident,
            title=f"Revert {original.title}",
            switch=original.switch,
            target=original.target,
            action=Action.REVERT,
            reverts=original.id,
            changes=changes,
            restore=restore,
            plan=plan,
            requester=requester,
            reason=reason,
            created_at=now,
            expires_at=now + self.policy.expiry,
            drill=original.drill,
        )
        self.approvals.record(original.id, outcome.model_copy(update={"reverted_by": request.id}))
        submitted = self._submit(incident, request, AuditKind.REVERT_REQUESTED)
        self.refresh_cards(original.id)
        return submitted

    def _submit(self, incident: Incident, request: ApprovalRequest, kind: AuditKind) -> ApprovalRequest:
        approvers, description = self._approvers(incident, request.requester)
        self.approvals.create(request, approvers)
        self._audit(
            request,
            kind,
            request.requester,
            f"{kind.value}: {request.title}: {request.reason}",
            {
                "title": request.title,
                "reason": request.reason,
                "plan": request.plan,
                "target": request.target,
                "approvers": sorted(approvers),
            },
        )
        assert incident.channel_id is not None
        text, blocks = card(request, Outcome(), description, self.timezone)
        self.approvals.add_card(request.id, incident.channel_id, self.slack.post(incident.channel_id, text, blocks))
        if self.policy.usergroup or self.policy.users:
            for approver in sorted(approvers - {request.requester})[:20]:
                channel, ts = self.slack.post_direct(approver, text, blocks)
                self.approvals.add_card(request.id, channel, ts)
        self.scheduler.schedule(
            request.expires_at,
            "bot.jobs.expire_approval",
            self.key_prefix,
            request.id,
            job_id=job_id(self.key_prefix, "expire", request.id),
        )
        return request

    def _approvers(self, incident: Incident, requester: str) -> tuple[set[str], str]:
        """Who may approve, fixed now: the configured group and users, or else the channel's other members."""
        configured = set(self.policy.users)
        if self.policy.usergroup:
            configured |= set(self.slack.usergroup_members(self.policy.usergroup))
        if configured:
            return configured, "approvers: " + ", ".join(user(u) for u in sorted(configured - {requester})[:10])
        assert incident.channel_id is not None
        members = self.slack.channel_members(incident.channel_id) - {requester, self.bot_user()}
        return members, f"any member of this channel but {user(requester)}"

    def bot_user(self) -> str:
        if self._bot_user is None:
            self._bot_user = self.slack.bot_user_id()
        return self._bot_user

    # ----- deciding

    def decide(self, approval_id: str, actor: str, approve: bool) -> str | None:
        """One atomic decision. Returns the sentence for the person when refused; None when this click decided."""
        found = self.approvals.get(approval_id)
        if found is None:
            return "That request no longer exists."
        request, _ = found
        refusal = self.approvals.decide(approval_id, request.incident, actor, approve, self.clock.now())
        if refusal is not None:
            message = refusal.value
            current = self.approvals.get(approval_id)
            if current and current[1].decided_by and refusal is Refusal.DECIDED:
                verb = "denied" if current[1].status is RequestStatus.DENIED else "approved"
                message = f"This request was already {verb} by {user(current[1].decided_by)}."
            self._audit(request, AuditKind.REFUSED, actor, f"refused {actor}: {message}", {"refusal": refusal.name})
            return message
        kind = AuditKind.APPROVED if approve else AuditKind.DENIED
        self._audit(request, kind, actor, f"{kind.value} by {actor}: {request.title}", {})
        self.scheduler.cancel(job_id(self.key_prefix, "expire", request.id))
        if approve:
            self.scheduler.enqueue(
                "bot.jobs.execute_approval",
                self.key_prefix,
                request.id,
                job_id=job_id(self.key_prefix, "execute", request.id),
                retry_after=EXECUTION_RETRIES,
                timeout=self.policy.lease_seconds,
            )
        self.refresh_cards(approval_id)
        return None

    def expire(self, approval_id: str) -> None:
        found = self.approvals.get(approval_id)
        if found is None or not self.approvals.expire(approval_id, self.clock.now()):
            return
        self._audit(found[0], AuditKind.EXPIRED, None, f"expired without a second person: {found[0].title}", {})
        self.refresh_cards(approval_id)

    # ----- executing (in the worker), exactly once

    def execute(self, approval_id: str) -> None:
        found = self.approvals.get(approval_id)
        if found is None:
            return
        request, outcome = found
        attempt = self.approvals.claim_execution(approval_id, self.clock.now(), self.policy.lease_seconds)
        if not attempt:
            return
        try:
            self._execute(request, outcome, attempt)
        except Exception:
            self.approvals.release(approval_id)  # an unexpected failure: RQ runs the job again, which may claim it
            raise

    def _execute(self, request: ApprovalRequest, outcome: Outcome, attempt: int) -> None:
        approval_id = request.id
        self._audit(request, AuditKind.EXECUTION_STARTED, None, f"execution started (attempt {attempt})", {})
        incident = self.incidents.get(request.incident)
        self._step(incident, request, StepAction.START)
        self.refresh_cards(approval_id)
        if request.drill:
            done = outcome.model_copy(update={"result": "dry run: nothing was sent to the org", "observed": ""})
            self.approvals.finish(approval_id, RequestStatus.EXECUTED, done)
            self._audit(request, AuditKind.DRY_RUN, None, f"dry run of {request.title}", {"plan": request.plan})
            self._step(incident, request, StepAction.SUCCEED, result="Dry run (drill): nothing was sent.")
            self.refresh_cards(approval_id)
            return
        try:
            result, prior = self._apply(request, outcome)
            executed = outcome.model_copy(update={"result": result, "prior": prior})
            self.approvals.finish(approval_id, RequestStatus.EXECUTED, executed)
            self._audit(
                request,
                AuditKind.EXECUTED,
                None,
                f"executed {request.title}: {result}",
                {"prior": prior, "plan": request.plan},
            )
            verified, observed = self._verify(request)
        except SalesforceError as error:
            failed = outcome.model_copy(update={"error": str(error)})
            self.approvals.finish(approval_id, RequestStatus.FAILED, failed)
            self._audit(request, AuditKind.FAILED, None, f"failed: {error}", {})
            self._step(incident, request, StepAction.FAIL, error=str(error))
            self.refresh_cards(approval_id)
            return
        final = executed.model_copy(update={"verified": verified, "observed": observed})
        self.approvals.finish(approval_id, RequestStatus.EXECUTED, final)
        if verified is not None:
            kind = AuditKind.VERIFIED if verified else AuditKind.UNVERIFIED
            self._audit(request, kind, None, f"{kind.value}: {observed}", {"observed": observed})
        if verified and request.action is Action.APPLY:
            self.on_contained(request.incident, self.clock.now())
        if verified is False:
            self._step(incident, request, StepAction.FAIL, error=f"NOT VERIFIED: {observed}")
        else:
            self._step(incident, request, StepAction.SUCCEED, result=f"{result} {observed}".strip())
        self.refresh_cards(approval_id)

    def _keep_prior(
        self, request: ApprovalRequest, outcome: Outcome, seen: dict[str, str | None]
    ) -> dict[str, str | None]:
        """The values before the change: kept before anything is sent, so a retried attempt still knows them."""
        if outcome.prior:
            return outcome.prior
        self.approvals.record(request.id, outcome.model_copy(update={"prior": seen}))
        return seen

    def _apply(self, request: ApprovalRequest, outcome: Outcome) -> tuple[str, dict[str, str | None]]:
        """Sends the request to the org; returns what happened and the prior values."""
        gateway = self._gateway()
        switch = self._switch(request.switch) if request.switch else None
        if request.changes:
            values = gateway.read_custom_metadata(self.record)
            prior = self._keep_prior(request, outcome, {f: values.get(f) for f in request.changes})
            pending = {field: value for field, value in request.changes.items() if values.get(field) != value}
            if pending:  # a retried execution finds what an earlier attempt already set, and leaves it
                gateway.update_custom_metadata(self.record, pending)
            gateway.execute_anonymous(REFRESH_APEX)
            changed = ", ".join(f"{f} = {v}" for f, v in request.changes.items())
            already = "" if pending else " (already set by an earlier attempt)"
            return f"{self.record}: {changed}{already}; FMConfig.refresh() ran.", prior
        if switch is not None and isinstance(switch.mechanism, PermissionSetRevocation):
            if request.action is Action.REVERT:
                for set_id in request.restore.values():
                    gateway.create(
                        "PermissionSetAssignment", {"AssigneeId": request.target["user_id"], "PermissionSetId": set_id}
                    )
                return f"re-assigned {len(request.restore)} permission set(s).", {}
            soql = permission_set_assignments_soql(request.target["user_id"], switch.mechanism.permission_sets)
            assignments = gateway.query(soql).records
            found = {str(a["PermissionSet.Name"]): str(a["PermissionSetId"]) for a in assignments}
            prior = self._keep_prior(request, outcome, dict(found))
            for assignment in assignments:
                gateway.delete("PermissionSetAssignment", str(assignment["Id"]))
            return f"deleted {len(assignments)} permission set assignment(s).", prior
        assert request.apex is not None
        gateway.execute_anonymous(request.apex)
        return "the Apex compiled and ran.", {}

    def _verify(self, request: ApprovalRequest) -> tuple[bool | None, str]:
        """Reads the org back: verified, or loudly not, with what was seen; None when nothing can be read."""
        gateway = self._gateway()
        switch = self._switch(request.switch) if request.switch else None
        if request.changes:
            values = gateway.read_custom_metadata(self.record)
            seen = {field: values.get(field) for field in request.changes}
            ok = all(seen[field] == value for field, value in request.changes.items())
            return ok, "read back " + ", ".join(f"{f} = {v}" for f, v in seen.items())
        if switch is not None and isinstance(switch.mechanism, PermissionSetRevocation):
            left = gateway.query(
                permission_set_assignments_soql(request.target["user_id"], switch.mechanism.permission_sets)
            ).records
            if request.action is Action.REVERT:
                return len(left) == len(request.restore), f"{len(left)} assignment(s) in place"
            names = ", ".join(str(a.get("PermissionSet.Name")) for a in left)
            return not left, f"{len(left)} assignment(s) left" + (f": {names}" if names else "")
        if switch is not None and isinstance(switch.mechanism, CronAbort):
            left = gateway.query(cron_soql(switch.mechanism.job_name)).records
            return not left, f"{len(left)} scheduled job(s) named {switch.mechanism.job_name} left"
        return None, "nothing to read back for this Apex: check its effect by hand."

    # ----- cards, steps and the audit trail

    def refresh_cards(self, approval_id: str) -> None:
        found = self.approvals.get(approval_id)
        if found is None:
            return
        request, outcome = found
        approvers = self.approvals.approvers(approval_id) - {request.requester}
        description = "approvers: " + ", ".join(user(u) for u in sorted(approvers)[:10]) if approvers else "nobody"
        text, blocks = card(request, outcome, description, self.timezone)
        for channel, ts in self.approvals.cards(approval_id):
            try:
                self.slack.update(channel, ts, text, blocks)
            except SlackCallFailed:
                logger.warning("could not update the card of %s in %s", approval_id, channel)

    def _step(self, incident: Incident | None, request: ApprovalRequest, action: StepAction, **details: str) -> None:
        if incident is None or not request.scope or not request.step or request.action is Action.REVERT:
            return
        step = self.runbook.step(request.scope, request.step)
        if step is None:
            return
        self.walkthrough.transition(
            incident.number,
            request.scope,
            step,
            after(action, request.requester, self.clock.now(), **details),
            allowed_from(action),
        )

    def _audit(
        self, request: ApprovalRequest, kind: AuditKind, actor: str | None, summary: str, details: dict[str, object]
    ) -> None:
        entry = AuditEntry(
            at=self.clock.now(), kind=kind, actor=actor, request=request.id, summary=summary, details=details
        )
        self.audit.append(request.incident, entry)

    # ----- helpers

    def _open(self, number: int) -> Incident:
        incident = self.incidents.get(number)
        if incident is None:
            raise UserError(f"There is no incident {number}.")
        if not incident.is_open:
            raise UserError(f"{incident.reference} is {incident.status.value}; nothing more runs for it.")
        return incident

    def _switch(self, key: str) -> KillSwitch:
        switch = self.runbook.switches.get(key)
        if switch is None:
            known = ", ".join(f"`{s.key}`" for s in self.runbook.switches.switches)
            raise UserError(f"There is no kill switch `{key}`; the switches are {known}.")
        return switch

    def _gateway(self) -> SalesforceGateway:
        if self.gateway is None:
            raise SalesforceError("Salesforce is not connected.")
        return self.gateway

    def _switch_plan(self, switch: KillSwitch, target: dict[str, str], changes: dict[str, str]) -> list[str]:
        if changes:
            return self._fm_plan(changes)
        mechanism = switch.mechanism
        if isinstance(mechanism, PermissionSetRevocation):
            soql = permission_set_assignments_soql(target["user_id"], mechanism.permission_sets)
            return [
                f"REST query: {soql}",
                "REST delete of each PermissionSetAssignment it returns",
                "then the same query again, expecting none",
            ]
        assert isinstance(mechanism, CronAbort)
        return [
            f"Tooling API executeAnonymous: {abort_cron_apex(mechanism.job_name)}",
            f"then REST query: {cron_soql(mechanism.job_name)}, expecting none",
        ]

    def _fm_plan(self, changes: dict[str, str]) -> list[str]:
        sets = ", ".join(f"{field} = {value}" for field, value in changes.items())
        return [
            f"Metadata API updateMetadata: {self.record}: {sets}",
            f"Tooling API executeAnonymous: {REFRESH_APEX}",
            f"then Metadata API readMetadata {self.record}, expecting {sets}",
        ]
