"""Executing an approved request, in the worker: exactly once, then verified, and never sent twice.

Each attempt claims the request (a lease) and is told where it stands (`ApprovalStore.claim`):

    prepare   read the state before the change (nothing sent yet: a read that gets no answer is retried); if the
              org already shows the change, nothing is sent and the request says so
    send      the one call to the org; from here the request never goes back to approved (its mark is made
              durable first where Redis can say so: WAITAOF)
    settle    the call got no answer (a timeout, a dead worker): read the org back; applied → finish,
              not applied → failed; never sent again
    finish    follow-ups that are safe to repeat (FMConfig.refresh()), then read back
    verify    read the org back: verified, or loudly not; a read-back that fails keeps the prior value and the
              revert, says "applied, not yet verified", and is retried
    watch     a guided change: read the org until a person's change shows, or the watch ends

Each change of a request is written with its audit entry in one script, so a fault between the two cannot leave
one without the other. Nothing here talks to Slack: the cards, the step and the header are updated by their own
job afterwards, so a Slack that fails or throttles can neither hold an approved change back nor make it run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.adapters.redis_store.approvals import ApprovalStore
from bot.adapters.salesforce.errors import SalesforceError, SalesforceNoAnswer
from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.adapters.scheduler import Scheduler
from bot.core.approval import Action, ApprovalRequest, Move, Outcome, Verification
from bot.core.audit import AuditKind
from bot.core.clock import Clock
from bot.core.events import SwitchChange, SwitchChanged
from bot.core.walkthrough import StepAction, after, allowed_from
from bot.jobs import JobName
from bot.mechanisms import MECHANISMS
from bot.mechanisms.base import Mechanism, ReadBack, RequestError
from bot.services.audit import AuditService
from bot.services.errors import UserError
from bot.services.walkthrough import WalkthroughService

logger = logging.getLogger(__name__)
WATCH_EVERY = timedelta(seconds=15)
# A write that got no answer may still be applied by the org a while later: the state before it, read sooner
# than this after the send, does not yet mean "not applied".
SETTLE_AFTER = timedelta(seconds=30)


class RetryLater(Exception):
    """This attempt stops here and the job runs again (a lease held elsewhere, an org that did not answer)."""


class ExecutionService:
    def __init__(
        self,
        approvals: ApprovalStore,
        audit: AuditService,
        walkthrough: WalkthroughService,
        org: SalesforceGateway | None,
        scheduler: Scheduler,
        clock: Clock,
        lease_seconds: int,
        on_contained: Callable[[int, datetime], None],
    ) -> None:
        self.approvals = approvals
        self.audit = audit
        self.walkthrough = walkthrough
        self.org = org
        self.scheduler = scheduler
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.on_contained = on_contained

    def execute(self, approval_id: str) -> None:
        """One attempt; raises RetryLater when the job should run again."""
        found = self.approvals.get(approval_id)
        if found is None:
            return
        request, _ = found
        cancelled = self.audit.entry(
            request, AuditKind.CANCELLED, None, f"not sent, the incident was resolved: {request.title}"
        )
        lost = self.audit.entry(request, AuditKind.UNKNOWN, None, "outcome unknown: the worker stopped while sending")
        task = self.approvals.claim(request, self.clock.now(), self.lease_seconds, cancelled, lost)
        if task == "busy":
            raise RetryLater(f"another worker holds {approval_id}")
        if task in ("cancelled", "done"):
            return
        if task == "lost":
            task = "settle"
        try:
            {
                "prepare": self._prepare,
                "settle": self._settle,
                "finish": self._finish,
                "verify": self._verify,
                "watch": self._watch,
            }[task](request)
        finally:
            self.approvals.release(approval_id)

    # ----- the steps of an execution

    def _prepare(self, request: ApprovalRequest) -> None:
        outcome = self._outcome(request)
        started = f"execution started (attempt {outcome.attempts})"
        self.audit.record(self.audit.entry(request, AuditKind.EXECUTION_STARTED, None, started))
        self._step(request, StepAction.START)
        if request.drill:
            dry = outcome.model_copy(update={"result": "dry run: nothing was sent to the org"})
            summary = f"dry run of {request.title}"
            audit = self.audit.entry(request, AuditKind.DRY_RUN, None, summary, {"plan": request.plan})
            self.approvals.move(request, Move.DRY_RUN, dry, audit)
            self._step(request, StepAction.SUCCEED, result="Dry run (drill): nothing was sent.")
            return
        mechanism = self._mechanism(request)
        try:
            org = self._org()  # a bot restarted without Salesforce fails the request here, never sending it
            prior = outcome.prior or mechanism.prepare(org, request.change)
        except SalesforceNoAnswer as error:
            self.approvals.move(request, Move.RELEASE)  # nothing was sent: the retry may prepare again
            raise RetryLater(str(error)) from None
        except (SalesforceError, RequestError) as error:
            self._failed(request, outcome, Move.ABANDON, f"{error} Nothing was sent.")
            return
        outcome = outcome.model_copy(update={"prior": prior})
        seen = mechanism.in_place(request.change, prior)
        if seen is not None:
            self._unchanged(request, outcome, seen)
            return
        self.approvals.record(request, outcome)  # kept before anything is sent: a revert needs it
        if mechanism.guided:
            waiting = outcome.model_copy(update={"result": "waiting for a person to make the change in Setup"})
            audit = self.audit.entry(
                request, AuditKind.GUIDED, None, f"waiting for a person: {request.title}", {"plan": request.plan}
            )
            self.approvals.move(request, Move.GUIDE, waiting, audit)
            self._watch_again(request)
            return
        outcome = outcome.model_copy(update={"sent_at": self.clock.now()})
        if not self.approvals.move(request, Move.SEND, outcome):
            return  # cancelled while preparing: nothing was sent
        self.approvals.durable()  # the SEND mark and the prior value on disk before anything goes out
        try:
            result = mechanism.apply(org, request.change, prior)
        except SalesforceNoAnswer as error:
            decides = "Reading the org back decides" if mechanism.can_read_back else "A person checks it by hand"
            unknown = outcome.model_copy(update={"error": f"{error} {decides}; it is not sent again."})
            audit = self.audit.entry(request, AuditKind.UNKNOWN, None, f"outcome unknown: {error}")
            self.approvals.move(request, Move.NO_ANSWER, unknown, audit)
            self._settle(request)
            return
        except SalesforceError as error:
            self._failed(request, outcome, Move.REFUSED, str(error))
            return
        except Exception:
            self.approvals.move(
                request, Move.NO_ANSWER, outcome.model_copy(update={"error": "the bot failed mid-call"})
            )
            raise
        applied = outcome.model_copy(update={"result": result})
        summary = f"executed {request.title}: {result}"
        details = {"prior": prior, "plan": request.plan}
        audit = self.audit.entry(request, AuditKind.EXECUTED, None, summary, details, self._event(request, "executed"))
        self.approvals.move(request, Move.APPLIED, applied, audit)
        self._finish(request)

    def _unchanged(self, request: ApprovalRequest, outcome: Outcome, seen: str) -> None:
        """The org already shows the change, read just before sending: nothing is sent, and the request says so
        (its revert would restore nothing)."""
        result = f"already in place, nothing was sent: the org shows {seen}"
        audit = self.audit.entry(request, AuditKind.UNCHANGED, None, result, {"prior": outcome.prior})
        self.approvals.move(request, Move.UNCHANGED, outcome.model_copy(update={"result": result}), audit)
        self._step(request, StepAction.SUCCEED, result=result)

    def _settle(self, request: ApprovalRequest) -> None:
        """Sent without an answer: the org says whether it took the change. Nothing is ever sent again."""
        outcome, mechanism = self._outcome(request), self._mechanism(request)
        if not mechanism.can_read_back:
            note = (
                "Outcome unknown: Salesforce did not answer, and this Apex leaves nothing to read back. Check its "
                "effect by hand; it will not be sent again."
            )
            self.approvals.record(
                request, outcome.model_copy(update={"verification": Verification.NOT_CHECKED, "observed": note})
            )
            self._step(request, StepAction.FAIL, error="outcome unknown: check by hand")
            return
        seen = self._read_back(request, mechanism, outcome, "the change may or may not have been applied")
        if seen.applied is True:
            result = "applied: the org took it, though its answer never came"
            summary = f"executed {request.title}: {result}"
            event = self._event(request, "executed")
            audit = self.audit.entry(request, AuditKind.EXECUTED, None, summary, {"prior": outcome.prior}, event)
            self.approvals.move(
                request, Move.APPLIED, outcome.model_copy(update={"result": result, "error": ""}), audit
            )
            self._finish(request)
        elif seen.applied is False and self.clock.now() - (outcome.sent_at or request.created_at) >= SETTLE_AFTER:
            not_applied = f"not applied: the org shows the state before it ({seen.seen}); nothing was sent again"
            self._failed(request, outcome, Move.NOT_APPLIED, not_applied)
        else:
            self.approvals.record(request, outcome.model_copy(update={"observed": f"outcome unknown: {seen.seen}"}))
            raise RetryLater(f"{request.id}: outcome unknown")

    def _finish(self, request: ApprovalRequest) -> None:
        outcome, mechanism = self._outcome(request), self._mechanism(request)
        try:
            done = mechanism.finish(self._org(), request.change)
        except SalesforceError as error:
            pending = f"applied; the follow-up did not run yet ({error}), retrying"
            self.approvals.record(request, outcome.model_copy(update={"observed": pending}))
            raise RetryLater(str(error)) from None
        result = f"{outcome.result}; {done}" if done else outcome.result
        self.approvals.move(request, Move.FINISHED, outcome.model_copy(update={"result": result}))
        self._verify(request)

    def _verify(self, request: ApprovalRequest) -> None:
        outcome, mechanism = self._outcome(request), self._mechanism(request)
        if not mechanism.can_read_back:
            note = "nothing to read back for this Apex: check its effect by hand."
            self.approvals.record(
                request, outcome.model_copy(update={"verification": Verification.NOT_CHECKED, "observed": note})
            )
            self._step(request, StepAction.SUCCEED, result=outcome.result)
            return
        seen = self._read_back(request, mechanism, outcome, "applied, not yet verified")
        self._verified(request, outcome, seen)

    def _watch(self, request: ApprovalRequest) -> None:
        """A guided change: verified once the org shows it; not verified when the watch ends first."""
        outcome, mechanism = self._outcome(request), self._mechanism(request)
        seen = self._read_back(request, mechanism, outcome, "waiting for the change to show")
        watch_ends = (outcome.decided_at or request.created_at) + timedelta(minutes=mechanism.watch_minutes)
        if seen.applied is True:
            self.approvals.move(request, Move.SEEN, outcome.model_copy(update={"result": "changed in Setup"}))
            self._verified(request, self._outcome(request), seen)
        elif self.clock.now() >= watch_ends:
            watched = f"not seen within {mechanism.watch_minutes} minutes: {seen.seen}"
            self._verified(request, outcome, ReadBack(False, watched))
        else:
            self.approvals.record(request, outcome.model_copy(update={"observed": seen.seen}))
            self._watch_again(request)

    # ----- helpers

    def _read_back(self, request: ApprovalRequest, mechanism: Mechanism, outcome: Outcome, meanwhile: str) -> ReadBack:
        try:
            return mechanism.read_back(self._org(), request.change, outcome.prior)
        except SalesforceError as error:
            note = f"{meanwhile}: reading the org back failed ({error}); retrying"
            self.approvals.record(request, outcome.model_copy(update={"observed": note}))
            raise RetryLater(str(error)) from None

    def _verified(self, request: ApprovalRequest, outcome: Outcome, seen: ReadBack) -> None:
        verified = seen.applied is True
        verification = Verification.VERIFIED if verified else Verification.NOT_VERIFIED
        kind = AuditKind.VERIFIED if verified else AuditKind.UNVERIFIED
        change: SwitchChange = "not verified"
        if verified:
            change = "reverted" if request.action is Action.REVERT else "verified"
        details = {"observed": seen.seen}
        audit = self.audit.entry(
            request, kind, None, f"{kind.value}: {seen.seen}", details, self._event(request, change)
        )
        self.approvals.record(
            request, outcome.model_copy(update={"verification": verification, "observed": seen.seen}), audit
        )
        if verified and request.action is Action.APPLY:
            self.on_contained(request.incident, self.clock.now())
        if verified:
            self._step(request, StepAction.SUCCEED, result=f"{outcome.result} {seen.seen}".strip())
        else:
            self._step(request, StepAction.FAIL, error=f"NOT VERIFIED: {seen.seen}")

    def _failed(self, request: ApprovalRequest, outcome: Outcome, move: Move, error: str) -> None:
        audit = self.audit.entry(request, AuditKind.FAILED, None, f"failed: {error}")
        self.approvals.move(request, move, outcome.model_copy(update={"error": error}), audit)
        self._step(request, StepAction.FAIL, error=error)

    def _watch_again(self, request: ApprovalRequest) -> None:
        self.scheduler.schedule(
            self.clock.now() + WATCH_EVERY,
            JobName.WATCH_REQUEST,
            request.id,
            job_id=self.scheduler.job_id("watch", request.id),
        )

    def _event(self, request: ApprovalRequest, change: SwitchChange) -> SwitchChanged | None:
        """What the subscribers hear of a kill switch (a drill's dry runs and destructive steps tell nobody)."""
        if request.drill or not request.switch:
            return None
        return SwitchChanged(incident=request.incident, at=self.clock.now(), request=request.id, change=change)

    def _outcome(self, request: ApprovalRequest) -> Outcome:
        found = self.approvals.get(request.id)
        assert found is not None
        return found[1]

    def _mechanism(self, request: ApprovalRequest) -> Mechanism:
        return MECHANISMS[request.mechanism]

    def _org(self) -> SalesforceGateway:
        if self.org is None:
            raise SalesforceError("Salesforce is not connected.")
        return self.org

    def _step(self, request: ApprovalRequest, action: StepAction, **details: Any) -> None:
        """The playbook step that asked for the request follows it (a revert leaves it as it is)."""
        if not request.scope or not request.step or request.action is Action.REVERT:
            return
        step = self.walkthrough.runbook.step(request.scope, request.step)
        if step is None:
            return
        state = after(action, request.requester, self.clock.now(), **details)
        try:
            self.walkthrough.transition(request.incident, request.scope, step, state, allowed_from(action))
        except UserError:
            logger.info("step %s/%s of incident %s no longer changes", request.scope, request.step, request.incident)
