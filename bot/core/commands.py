"""The `/incident` command language: parsing its text into a typed command, and the help table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from bot.core.response import Role
from bot.core.severity import Severity


class CommandError(ValueError):
    """The text is not a valid command; the message is one sentence for the user."""


@dataclass(frozen=True)
class Help:
    unknown: str | None = None


@dataclass(frozen=True)
class OpenDeclareForm:
    title: str = ""
    private: bool = False
    drill: bool = False
    llm_related: bool = False


@dataclass(frozen=True)
class Declare:
    severity: Severity
    title: str
    private: bool = False
    drill: bool = False
    llm_related: bool = False


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class StartPlaybook:
    key: str = ""


@dataclass(frozen=True)
class KillSwitchPanel:
    key: str = ""


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class SetMilestone:
    milestone: str  # "first signal" or "mitigated"
    time: str  # as typed; empty means now


@dataclass(frozen=True)
class ShowTimeline:
    pass


@dataclass(frozen=True)
class OpenResolveForm:
    pass


@dataclass(frozen=True)
class AddAction:
    text: str
    owner: str | None
    due: date | None


@dataclass(frozen=True)
class WritePostmortem:
    pass


@dataclass(frozen=True)
class ChangeSeverity:
    severity: Severity


@dataclass(frozen=True)
class AssignRole:
    role: str  # a Role value
    user: str


@dataclass(frozen=True)
class OpenUpdateForm:
    pass


@dataclass(frozen=True)
class Acknowledge:
    pass


@dataclass(frozen=True)
class Probe:
    pass


@dataclass(frozen=True)
class Similar:
    text: str = ""


@dataclass(frozen=True)
class Page:
    reason: str


@dataclass(frozen=True)
class ListActions:
    """`/incident actions`: the items with their issues; `export`: send them to the trackers now."""

    export: bool = False


Command = (
    Help
    | OpenDeclareForm
    | Declare
    | Status
    | StartPlaybook
    | KillSwitchPanel
    | Note
    | SetMilestone
    | ShowTimeline
    | OpenResolveForm
    | AddAction
    | WritePostmortem
    | ChangeSeverity
    | AssignRole
    | OpenUpdateForm
    | Acknowledge
    | Probe
    | Similar
    | Page
    | ListActions
)


@dataclass(frozen=True)
class Usage:
    usage: str
    what: str
    aliases: tuple[str, ...] = field(default=())


USAGE: tuple[Usage, ...] = (
    Usage("/incident declare", "open the declare form (also plain `/incident`)"),
    Usage(
        "/incident declare [--private] [--drill] [--llm] sev2 TITLE",
        "declare at once: `--private` for a security incident, `--drill` for practice, `--llm` if provider related",
    ),
    Usage("/incident status", "this incident in its channel; elsewhere, the open incidents"),
    Usage("/incident playbook [KEY]", "start a playbook in this incident (by key or number); alone, lists them"),
    Usage("/incident killswitch [KEY]", "the kill-switch panel, or the request form for one switch"),
    Usage("/incident ack", "the commander acknowledges: stops the escalation"),
    Usage("/incident probe", "measures the org again: ranks the playbooks by evidence, checks the severity"),
    Usage("/incident similar [TEXT]", "earlier incidents like this one, or like TEXT (private ones: members only)"),
    Usage("/incident sev N", "changes the severity (the response target follows)"),
    Usage("/incident page REASON", "pages the on-call now through PagerDuty or Opsgenie (once an incident)"),
    Usage("/incident lead @user", "makes someone the incident commander"),
    Usage("/incident role comms|scribe @user", "assigns the communications or scribe role"),
    Usage("/incident update", "posts a status update here and in the announcements channel"),
    Usage("/incident note TEXT", "adds a note to the timeline (or react :pushpin: to any message)"),
    Usage("/incident timeline", "posts the timeline in the channel, a page at a time"),
    Usage("/incident signal HH:MM", "when the first signal came (default: the declaration time)"),
    Usage("/incident mitigated [HH:MM]", "marks the incident mitigated (now, or at that time)"),
    Usage("/incident action TEXT @owner YYYY-MM-DD", "adds an action item for the post-mortem"),
    Usage("/incident actions [export]", "the action items with their issues; `export` sends them to the trackers"),
    Usage("/incident resolve", "resolves the incident: root cause, customer impact, lessons learned"),
    Usage("/incident postmortem", "writes (or rewrites) the post-mortem draft in the channel canvas"),
    Usage("/incident help", "this list"),
)

NOTE_MAX = 2000
SIMILAR_MAX = 200
_SEVERITY_WORD = re.compile(r"sev-?\d+", re.IGNORECASE)
_FLAGS = {"--private": "private", "--drill": "drill", "--llm": "llm_related"}


def parse(text: str) -> Command:
    words = text.split()
    if not words:
        return OpenDeclareForm()
    verb, rest = words[0].lower(), words[1:]
    if verb == "declare":
        return _parse_declare(rest)
    if verb == "status" and not rest:
        return Status()
    if verb == "playbook" and len(rest) <= 1:
        return StartPlaybook(rest[0] if rest else "")
    if verb == "killswitch" and len(rest) <= 1:
        return KillSwitchPanel(rest[0].lower() if rest else "")
    if verb == "note":
        note = text.strip()[len(words[0]) :].strip()
        if not note:
            raise CommandError("Write the note after the command: `/incident note Rolled back the 14:02 deploy`.")
        if len(note) > NOTE_MAX:
            raise CommandError(f"Keep the note to {NOTE_MAX} characters; this one has {len(note)}.")
        return Note(note)
    if verb == "signal":
        if not rest:
            raise CommandError("Give the time of the first signal: `/incident signal 14:02`.")
        return SetMilestone("first signal", " ".join(rest))
    if verb == "mitigated":
        return SetMilestone("mitigated", " ".join(rest))
    if verb == "timeline" and not rest:
        return ShowTimeline()
    if verb == "resolve" and not rest:
        return OpenResolveForm()
    if verb == "postmortem" and not rest:
        return WritePostmortem()
    if verb == "action":
        return _parse_action(rest)
    if verb == "actions" and (not rest or (len(rest) == 1 and rest[0].lower() == "export")):
        return ListActions(export=bool(rest))
    if verb in ("sev", "severity") and len(rest) == 1:
        try:
            return ChangeSeverity(Severity.parse(rest[0]))
        except ValueError as error:
            raise CommandError(str(error)) from None
    if verb == "lead" and len(rest) == 1:
        return AssignRole("commander", _mentioned(rest[0]))
    if verb == "role" and len(rest) == 2:
        try:
            role = Role.parse(rest[0])
        except ValueError as error:
            raise CommandError(str(error)) from None
        return AssignRole(role.value, _mentioned(rest[1]))
    if verb == "update" and not rest:
        return OpenUpdateForm()
    if verb in ("ack", "acknowledge") and not rest:
        return Acknowledge()
    if verb == "probe" and not rest:
        return Probe()
    if verb == "similar":
        similar = text.strip()[len(words[0]) :].strip()
        if len(similar) > SIMILAR_MAX:
            raise CommandError(f"Keep the text to {SIMILAR_MAX} characters; this one has {len(similar)}.")
        return Similar(similar)
    if verb == "page":
        reason = text.strip()[len(words[0]) :].strip()
        if not reason:
            raise CommandError("Say why you page: `/incident page the database is down`.")
        return Page(reason)
    if verb == "help":
        return Help()
    return Help(unknown=text.strip())


MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")  # a user mention as Slack writes it: <@U…> or <@U…|name>
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _mentioned(word: str) -> str:
    mention = MENTION.fullmatch(word)
    if mention is None:
        raise CommandError(f"`{word}` is not a person: mention them, e.g. @alice.")
    return mention.group(1)


def _parse_action(words: list[str]) -> AddAction:
    owner: str | None = None
    due: date | None = None
    kept = []
    for word in words:
        mention = MENTION.fullmatch(word)
        if mention and owner is None:
            owner = mention.group(1)
        elif _DATE.fullmatch(word) and due is None:
            try:
                due = date.fromisoformat(word)
            except ValueError:
                raise CommandError(f"`{word}` is not a date: use YYYY-MM-DD.") from None
        else:
            kept.append(word)
    if not kept:
        raise CommandError("Say what the action is: `/incident action Add an alert on 429s @owner 2026-12-05`.")
    return AddAction(" ".join(kept), owner, due)


def _parse_declare(words: list[str]) -> Command:
    flags = {name: False for name in _FLAGS.values()}
    severity: Severity | None = None
    index = 0
    while index < len(words):
        word = words[index]
        if word.lower() in _FLAGS:
            flags[_FLAGS[word.lower()]] = True
        elif word.startswith("--"):
            raise CommandError(f"`{word}` is not an option of declare: use --private, --drill or --llm.")
        elif severity is None and _SEVERITY_WORD.fullmatch(word):
            try:
                severity = Severity.parse(word)
            except ValueError as error:
                raise CommandError(str(error)) from None
        else:
            break
        index += 1
    title = " ".join(words[index:])
    if severity is None or not title:
        return OpenDeclareForm(title=title, **flags)
    return Declare(severity=severity, title=title, **flags)
