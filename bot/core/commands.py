"""The `/incident` command language: parsing its text into a typed command, and the help table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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


Command = Help | OpenDeclareForm | Declare | Status | StartPlaybook | KillSwitchPanel


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
    Usage("/incident help", "this list"),
)

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
    if verb == "help":
        return Help()
    return Help(unknown=text.strip())


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
