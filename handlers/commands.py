"""`/incident` and its subcommands."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.adapters.slack_api import respond
from bot.core.commands import (
    Acknowledge,
    AddAction,
    AssignRole,
    ChangeSeverity,
    CommandError,
    Declare,
    Help,
    KillSwitchPanel,
    Note,
    OpenDeclareForm,
    OpenResolveForm,
    OpenUpdateForm,
    SetMilestone,
    ShowTimeline,
    StartPlaybook,
    Status,
    WritePostmortem,
    parse,
)
from bot.core.incident import Incident, InvalidDeclaration, make_declaration
from bot.core.milestones import Milestone, MilestoneError, parse_time
from bot.core.response import Role
from bot.render.blocks import Blocks, help_blocks, incident_list
from bot.render.modals import declare_modal, resolve_modal, update_modal
from bot.render.mrkdwn import escape
from bot.services.errors import UserError
from bot.services.lifecycle import POSTMORTEM_SEVERITIES
from handlers.replies import Notify, answering, declared_message
from handlers.switches import killswitch_command

if TYPE_CHECKING:
    from bot.app import Services

Command = dict[str, Any]


def register(app: App, services: Services) -> None:
    @app.command("/incident")
    def incident_command(ack: Ack, command: Command) -> None:
        try:
            parsed = parse(command.get("text") or "")
        except CommandError as error:
            ack(text=str(error))
            return
        if isinstance(parsed, Help):
            text, blocks = help_blocks(parsed.unknown)
            ack(text=text, blocks=blocks)
            return
        if isinstance(parsed, Declare):
            declare_at_once(ack, services, command, parsed)
            return
        ack()

        def notify(text: str) -> None:
            respond(command["response_url"], text)

        with answering(notify):
            run(services, command, parsed, notify)


def run(services: Services, command: Command, parsed: object, notify: Notify) -> None:
    """Every subcommand that answers after the ack."""
    if isinstance(parsed, OpenDeclareForm):
        metadata = {"channel": command["channel_id"], "response_url": command["response_url"]}
        services.slack.open_view(command["trigger_id"], declare_modal(services.incidents.matrix, parsed, metadata))
    elif isinstance(parsed, Status):
        respond(command["response_url"], *status_reply(services, command["channel_id"], command["user_id"]))
    elif isinstance(parsed, KillSwitchPanel):
        killswitch_command(services, command, parsed.key)
    else:
        incident = here(services, command)
        in_incident[type(parsed)](services, command, incident, parsed, notify)


def here(services: Services, command: Command) -> Incident:
    incident = services.incidents.in_channel(command["channel_id"])
    if incident is None:
        verb = (command.get("text") or "").split()[0]
        raise UserError(f"Use `/incident {verb}` in an incident channel.")
    return incident


def declare_at_once(ack: Ack, services: Services, command: Command, parsed: Declare) -> None:
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

    def notify(text: str) -> None:
        respond(command["response_url"], text)

    with answering(notify):
        services.incidents.declare(
            declaration,
            delivery_key=f"command:{command['team_id']}:{command['trigger_id']}",
            announce=lambda declared: notify(declared_message(declared)),
        )


def start_playbook(services: Services, command: Command, incident: Incident, parsed: Any, notify: Notify) -> None:
    if not parsed.key:
        lines = [f"`{p.number}` / `{p.key}`: {p.title}" for p in services.runbook.playbooks]
        notify("Start one with `/incident playbook KEY`:\n" + "\n".join(lines))
        return
    outcome = services.walkthrough.start_playbook(incident.number, parsed.key, command["user_id"])
    if outcome.message:
        notify(outcome.message)


def note(services: Services, command: Command, incident: Incident, parsed: Any, notify: Notify) -> None:
    services.lifecycle.note(incident.number, command["user_id"], parsed.text)
    notify(":spiral_note_pad: Noted on the timeline.")


def milestone(services: Services, command: Command, incident: Incident, parsed: Any, notify: Notify) -> None:
    lifecycle = services.lifecycle
    now = lifecycle.clock.now()
    try:
        at = parse_time(parsed.time, now, lifecycle.timezone) if parsed.time else now
    except MilestoneError as error:
        raise UserError(str(error)) from None
    updated = lifecycle.set_milestone(incident.number, Milestone(parsed.milestone), at, command["user_id"])
    notify(
        f"{parsed.milestone.capitalize()} set to {at.astimezone(lifecycle.timezone):%Y-%m-%d %H:%M %Z} "
        f"for {updated.reference}."
    )


def show_timeline(services: Services, command: Command, incident: Incident, parsed: Any, notify: Notify) -> None:
    assert incident.channel_id is not None
    services.slack.post(incident.channel_id, *services.lifecycle.timeline_page(incident.number, 1))


def open_resolve_form(services: Services, command: Command, incident: Incident, parsed: Any, notify: Notify) -> None:
    if not incident.is_open:
        raise UserError(f"{incident.reference} is already resolved.")
    metadata = {
        "incident": incident.number,
        "response_url": command["response_url"],
        "root_cause_required": incident.severity in POSTMORTEM_SEVERITIES,
    }
    services.slack.open_view(command["trigger_id"], resolve_modal(incident, metadata))


def add_action(services: Services, command: Command, incident: Incident, parsed: Any, notify: Notify) -> None:
    item = services.lifecycle.add_action(incident.number, command["user_id"], parsed.text, parsed.owner, parsed.due)
    flags = f" (flagged in the draft: {', '.join(item.problems)})" if item.problems else ""
    notify(f"Action item added{flags}.")


def write_postmortem(services: Services, command: Command, incident: Incident, parsed: Any, notify: Notify) -> None:
    where = services.lifecycle.publish_postmortem(incident.number)
    notify(f":memo: The post-mortem draft of {incident.reference} is written to {where}.")


def acknowledge(services: Services, command: Command, incident: Incident, parsed: Any, notify: Notify) -> None:
    notify(services.response.acknowledge(incident.number, command["user_id"]))


def change_severity(services: Services, command: Command, incident: Incident, parsed: Any, notify: Notify) -> None:
    notify(services.response.change_severity(incident.number, parsed.severity, command["user_id"]))


def assign_role(services: Services, command: Command, incident: Incident, parsed: Any, notify: Notify) -> None:
    notify(services.response.assign(incident.number, Role(parsed.role), parsed.user, command["user_id"]))


def open_update_form(services: Services, command: Command, incident: Incident, parsed: Any, notify: Notify) -> None:
    if not incident.is_open:
        raise UserError(f"{incident.reference} is resolved.")
    metadata = {"incident": incident.number, "response_url": command["response_url"]}
    services.slack.open_view(command["trigger_id"], update_modal(incident, metadata))


in_incident: dict[type, Callable[[Services, Command, Incident, Any, Notify], None]] = {
    Acknowledge: acknowledge,
    ChangeSeverity: change_severity,
    AssignRole: assign_role,
    OpenUpdateForm: open_update_form,
    StartPlaybook: start_playbook,
    Note: note,
    SetMilestone: milestone,
    ShowTimeline: show_timeline,
    OpenResolveForm: open_resolve_form,
    AddAction: add_action,
    WritePostmortem: write_postmortem,
}


def status_reply(services: Services, channel_id: str, viewer: str) -> tuple[str, Blocks]:
    """The incident of this channel, or the open incidents the viewer may see when typed elsewhere."""
    incidents = services.incidents
    found = incidents.in_channel(channel_id)
    if found is not None:
        return incidents.header(found)
    return "Open incidents", incident_list(incidents.open_incidents(viewer), incidents.clock.now())
