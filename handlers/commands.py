"""`/incident` and its subcommands: parse the text (bot/core/commands.py), ack, call one use case, present."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.core.commands import (
    Acknowledge,
    AddAction,
    AssignRole,
    ChangeSeverity,
    CommandError,
    Declare,
    Help,
    KillSwitchPanel,
    ListActions,
    Note,
    OpenDeclareForm,
    OpenResolveForm,
    OpenUpdateForm,
    Page,
    Probe,
    SetMilestone,
    ShowTimeline,
    Similar,
    StartPlaybook,
    Status,
    WritePostmortem,
    parse,
)
from bot.core.incident import Incident, InvalidDeclaration, make_declaration, needs_postmortem
from bot.core.milestones import Milestone, MilestoneError, parse_time
from bot.core.response import Role
from bot.presenters.reply import Ephemeral, Reply
from bot.render.blocks import help_blocks
from bot.render.modals import declare_modal, resolve_modal, update_modal
from bot.render.mrkdwn import escape
from bot.services.errors import UserError
from handlers.actions import show_started
from handlers.declared import show_declared
from handlers.replies import answering

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
        reply = Ephemeral(command["response_url"])
        with answering(reply):
            run(services, command, parsed, reply)


def run(services: Services, command: Command, parsed: object, reply: Reply) -> None:
    """Every subcommand that answers after the ack."""
    if isinstance(parsed, OpenDeclareForm):
        metadata = {"channel": command["channel_id"], "response_url": command["response_url"]}
        services.slack.open_view(command["trigger_id"], declare_modal(services.runbook.severities, parsed, metadata))
    elif isinstance(parsed, Status):
        services.present.incidents.status(services.incidents.status(command["channel_id"], command["user_id"]), reply)
    elif isinstance(parsed, Similar):
        current = services.incidents.in_channel(command["channel_id"])
        if current is None and not parsed.text:
            raise UserError(
                "Say what to look for: `/incident similar Anthropic 529s` (or use it in an incident channel)."
            )
        matches = services.related.search(command["user_id"], parsed.text, current)
        services.present.related.search(parsed.text, current, matches, reply)
    else:
        in_incident[type(parsed)](services, command, here(services, command), parsed, reply)


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
    reply = Ephemeral(command["response_url"])
    with answering(reply):
        declared = services.incidents.declare(declaration, f"command:{command['team_id']}:{command['trigger_id']}")
        show_declared(services, declared, reply)


def start_playbook(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    if not parsed.key:
        lines = [f"`{p.number}` / `{p.key}`: {p.title}" for p in services.runbook.playbooks]
        reply("Start one with `/incident playbook KEY`:\n" + "\n".join(lines))
        return
    show_started(services, services.walkthrough.start_playbook(incident.number, parsed.key, command["user_id"]), reply)


def killswitch(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    """`/incident killswitch [KEY]`: the panel, or the request form for one switch."""
    if parsed.key:
        form = services.approvals.form(incident.number, parsed.key, None, None)
        services.present.approvals.open_form(form, command["trigger_id"], command["response_url"])
    else:
        shown, lines = services.approvals.panel(incident.number)
        services.present.approvals.panel(shown, lines, reply)


def note(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    services.lifecycle.note(incident.number, command["user_id"], parsed.text)
    reply(":spiral_note_pad: Noted on the timeline.")


def milestone(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    lifecycle = services.lifecycle
    now = lifecycle.clock.now()
    try:
        at = parse_time(parsed.time, now, lifecycle.timezone) if parsed.time else now
    except MilestoneError as error:
        raise UserError(str(error)) from None
    updated = lifecycle.mark(incident.number, Milestone(parsed.milestone), at, command["user_id"])
    services.present.incidents.refresh_header(updated)
    reply(
        f"{parsed.milestone.capitalize()} set to {at.astimezone(lifecycle.timezone):%Y-%m-%d %H:%M %Z} "
        f"for {updated.reference}."
    )


def show_timeline(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    services.present.lifecycle.post_timeline(incident.number)


def open_resolve_form(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    open_incident = services.lifecycle.open_incident(incident.number)
    metadata = {"incident": open_incident.number, "response_url": command["response_url"]}
    services.slack.open_view(
        command["trigger_id"], resolve_modal(open_incident, needs_postmortem(open_incident.severity), metadata)
    )


def add_action(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    item = services.lifecycle.add_action(incident.number, command["user_id"], parsed.text, parsed.owner, parsed.due)
    flags = f" (flagged in the draft: {', '.join(item.problems)})" if item.problems else ""
    reply(f"Action item added{flags}.")


def write_postmortem(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    services.lifecycle.acting(incident.number, command["user_id"], open_only=False)
    where = services.lifecycle.publish_postmortem(incident.number, services.present.lifecycle)
    reply(f":memo: The post-mortem draft of {incident.reference} is written to {where}.")


def list_actions(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    if parsed.export:
        services.present.action_items.export_asked(services.tracking.export(incident.number, command["user_id"]), reply)
    else:
        services.present.action_items.listed(services.tracking.items(incident.number), reply)


def acknowledge(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    services.present.response.acknowledged(services.response.acknowledge(incident.number, command["user_id"]), reply)


def probe(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    run = services.evidence.probe_again(incident.number, command["user_id"])
    reply(":mag: Probing the org; the picker shows what comes back.")
    services.present.evidence.show(services.evidence.finish(run))


def page(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    asked = services.paging.page(incident.number, command["user_id"], parsed.reason)
    reply(f":pager: Paging the on-call through {' and '.join(asked.pagers)}; the channel says when it went out.")


def change_severity(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    changed = services.response.change_severity(incident.number, parsed.severity, command["user_id"])
    services.present.response.severity_changed(changed, reply)


def assign_role(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    assigned = services.response.assign(incident.number, Role(parsed.role), parsed.user, command["user_id"])
    services.present.response.role_assigned(assigned, reply)


def open_update_form(services: Services, command: Command, incident: Incident, parsed: Any, reply: Reply) -> None:
    open_incident = services.lifecycle.open_incident(incident.number)
    metadata = {"incident": open_incident.number, "response_url": command["response_url"]}
    services.slack.open_view(command["trigger_id"], update_modal(open_incident, metadata))


in_incident: dict[type, Callable[[Services, Command, Incident, Any, Reply], None]] = {
    Acknowledge: acknowledge,
    Probe: probe,
    Page: page,
    ChangeSeverity: change_severity,
    AssignRole: assign_role,
    OpenUpdateForm: open_update_form,
    StartPlaybook: start_playbook,
    KillSwitchPanel: killswitch,
    Note: note,
    SetMilestone: milestone,
    ShowTimeline: show_timeline,
    OpenResolveForm: open_resolve_form,
    AddAction: add_action,
    WritePostmortem: write_postmortem,
    ListActions: list_actions,
}
