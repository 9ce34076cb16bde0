"""Kill switches in Slack: the panel, the request and revert forms, the request card in the incident channel
(and in configured approvers' direct messages: for a private incident only a link, never what it is about),
refusals, and the cards kept current as the request moves."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.adapters.redis_store.updates import CoalescedUpdates
from bot.adapters.slack_api import SlackApi, SlackCallFailed
from bot.core.approval import ApprovalRequest, Refusal, RequestStatus
from bot.core.incident import Incident
from bot.presenters.reply import Reply
from bot.render.blocks import Blocks, section
from bot.render.mrkdwn import escape, user
from bot.render.switches import card, direct_notice, panel, request_form, revert_form
from bot.services.approvals import ApprovalService, PanelLine, Refused, Requested, RequestForm

DIRECT_LIMIT = 20  # approvers told in a direct message, at most


CARD_GONE = {"message_not_found", "channel_not_found", "is_archived", "cant_update_message"}


class ApprovalPresenter:
    def __init__(
        self,
        slack: SlackApi,
        approvals: ApprovalService,
        updates: CoalescedUpdates,
        timezone: ZoneInfo,
    ) -> None:
        self.slack = slack
        self.approvals = approvals
        self.updates = updates
        self.timezone = timezone

    def panel(self, incident: Incident, lines: list[PanelLine], reply: Reply) -> None:
        rows = [(line.key, line.title, line.effect, line.state) for line in lines]
        reply(*panel(incident, rows, incident.drill))

    def open_form(self, form: RequestForm, trigger_id: str, response_url: str) -> None:
        metadata = {
            "incident": form.incident.number,
            "switch": form.switch,
            "scope": form.scope,
            "step": form.step,
            "response_url": response_url,
        }
        self.slack.open_view(trigger_id, request_form(form.title, form.effect, form.fields, metadata))

    def open_revert_form(self, request: ApprovalRequest, trigger_id: str, response_url: str) -> None:
        metadata = {"approval": request.id, "response_url": response_url}
        self.slack.open_view(trigger_id, revert_form(request, metadata))

    def posted(self, requested: Requested) -> None:
        """The card in the incident channel, then in each configured approver's direct messages."""
        request, incident = requested.request, requested.incident
        assert incident.channel_id is not None
        text, blocks = self._card(request.id)
        ts = self.slack.post(incident.channel_id, text, blocks)
        self.approvals.card_posted(request.id, incident.channel_id, ts)
        if request.reverts:
            self.refresh(request.reverts)  # the original card now says a revert is asked, and drops its button
        if not requested.direct:
            return
        if incident.private:
            notice = direct_notice(incident, self.slack.permalink(incident.channel_id, ts))
        for approver in sorted(requested.approvers)[:DIRECT_LIMIT]:
            if incident.private:
                self.slack.post_direct(approver, *notice)
            else:
                channel, direct_ts = self.slack.post_direct(approver, text, blocks)
                self.approvals.card_posted(request.id, channel, direct_ts)

    def refused(self, refused: Refused, reply: Reply) -> None:
        if refused.refusal is Refusal.DECIDED and refused.decided_by:
            verb = "denied" if refused.status is RequestStatus.DENIED else "approved"
            reply(f"This request was already {verb} by {user(refused.decided_by)}.")
            return
        reply(refused.refusal.value)

    def refresh(self, approval_id: str) -> None:
        """Every card of a request, redrawn from what Redis holds when sent (changes close together as one); for a
        revert, the card of what it reverts too (which offers its Revert again once a revert changed nothing)."""
        self.updates.request(f"approval:{approval_id}", lambda: self._latest_cards(approval_id), self._edit_cards)
        request, _ = self.approvals.get(approval_id)
        if request.reverts:
            original = request.reverts
            self.updates.request(f"approval:{original}", lambda: self._latest_cards(original), self._edit_cards)

    def still_in_effect(self, incident: Incident, held: list[ApprovalRequest]) -> None:
        """After resolve: the switches still in effect, each with a link to its card, where its Revert is."""
        assert incident.channel_id is not None
        lines = []
        for request in held:
            cards = [card for card in self.approvals.cards(request.id) if card[0] == incident.channel_id]
            where = f" <{self.slack.permalink(*cards[0])}|its card>" if cards else " its card"
            lines.append(f"• *{escape(request.title)}* (requested by {user(request.requester)}): Revert… on{where}")
        text = (
            f":warning: {incident.reference} is resolved, and these kill switches are still in effect in the org. "
            "A revert still needs a second person:\n" + "\n".join(lines)
        )
        self.slack.post(incident.channel_id, f"{incident.reference}: kill switches still in effect", [section(text)])

    def _latest_cards(self, approval_id: str) -> tuple[str, Blocks, list[tuple[str, str]]]:
        return (*self._card(approval_id), self.approvals.cards(approval_id))

    def _edit_cards(self, cards: tuple[str, Blocks, list[tuple[str, str]]]) -> None:
        """A card that is gone (deleted, in an archived channel) is left out; any other failure (a 429, Slack
        failing) goes back to the sender, which sends every card again later."""
        text, blocks, places = cards
        for channel, ts in places:
            try:
                self.slack.update(channel, ts, text, blocks, wait=False)
            except SlackCallFailed as failure:
                if failure.error not in CARD_GONE:
                    raise

    def _card(self, approval_id: str) -> tuple[str, Blocks]:
        shown = self.approvals.card_view(approval_id)
        request = shown.request
        if shown.approvers is None:
            description = f"any member of this channel but {user(request.requester)}"
        else:
            description = "approvers: " + ", ".join(user(u) for u in shown.approvers[:10])
        return card(request, shown.outcome, description, shown.head, self.timezone)
