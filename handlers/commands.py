"""`/incident` and its subcommands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.adapters.slack_api import respond
from bot.core.commands import (
    CommandError,
    Declare,
    Help,
    KillSwitchPanel,
    OpenDeclareForm,
    StartPlaybook,
    Status,
    parse,
)
from bot.core.incident import InvalidDeclaration, make_declaration
from bot.render.blocks import Blocks, help_blocks, incident_list
from bot.render.modals import declare_modal
from bot.render.mrkdwn import escape
from bot.services.errors import UserError
from handlers.replies import answering, declared_message
from handlers.switches import killswitch_command

if TYPE_CHECKING:
    from bot.app import Services


def register(app: App, services: Services) -> None:
    @app.command("/incident")
    def incident_command(ack: Ack, command: dict[str, Any]) -> None:
        try:
            parsed = parse(command.get("text") or "")
        except CommandError as error:
            ack(text=str(error))
            return

        def notify(text: str) -> None:
            respond(command["response_url"], text)

        if isinstance(parsed, Help):
            text, blocks = help_blocks(parsed.unknown)
            ack(text=text, blocks=blocks)
        elif isinstance(parsed, OpenDeclareForm):
            ack()
            metadata = {"channel": command["channel_id"], "response_url": command["response_url"]}
            with answering(notify):
                services.slack.open_view(
                    command["trigger_id"], declare_modal(services.incidents.matrix, parsed, metadata)
                )
        elif isinstance(parsed, Declare):
            try:
                declaration = make_declaration(
                    title=parsed.title,
                    severity=parsed.severity,
                    private=parsed.private,
                    drill=parsed.drill,
                    llm_related=parsed.llm_related,
                    declared_by=command["user_id"],
                    team_id=command["team_id"],
                )
            except InvalidDeclaration as invalid:
                ack(text=str(invalid))
                return
            ack(text=f"Declaring {parsed.severity.label}: {escape(declaration.title)}…")
            with answering(notify):
                services.incidents.declare(
                    declaration,
                    delivery_key=f"command:{command['team_id']}:{command['trigger_id']}",
                    announce=lambda declared: notify(declared_message(declared)),
                )
        elif isinstance(parsed, Status):
            ack()
            with answering(notify):
                respond(command["response_url"], *status_reply(services, command["channel_id"]))
        elif isinstance(parsed, StartPlaybook):
            ack()
            with answering(notify):
                incident = services.incidents.in_channel(command["channel_id"])
                if incident is None:
                    raise UserError("Use `/incident playbook` in an incident channel.")
                if not parsed.key:
                    notify(playbook_list(services))
                    return
                outcome = services.walkthrough.start_playbook(incident.number, parsed.key, command["user_id"])
                if outcome.message:
                    notify(outcome.message)
        elif isinstance(parsed, KillSwitchPanel):
            ack()
            with answering(notify):
                killswitch_command(services, command, parsed.key)


def playbook_list(services: Services) -> str:
    lines = [f"`{p.number}` / `{p.key}`: {p.title}" for p in services.runbook.playbooks]
    return "Start one with `/incident playbook KEY`:\n" + "\n".join(lines)


def status_reply(services: Services, channel_id: str) -> tuple[str, Blocks]:
    """The incident of this channel, or the open incidents when typed elsewhere."""
    incidents = services.incidents
    here = incidents.in_channel(channel_id)
    if here is not None:
        return incidents.header(here)
    return "Open incidents", incident_list(incidents.open_incidents(), incidents.clock.now())
