"""The incident: its fields, its lifecycle and the rules for naming its channel."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.severity import Severity

TITLE_MAX = 80
SUMMARY_MAX = 2000
CHANNEL_NAME_MAX = 80


class IncidentStatus(StrEnum):
    DECLARING = "declaring"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"

    @property
    def is_open(self) -> bool:
        return self not in CLOSED_STATUSES


# An incident nothing may change: not yet declared, or resolved. The one definition; the stores' scripts get it.
CLOSED_STATUSES = frozenset({IncidentStatus.DECLARING, IncidentStatus.RESOLVED})
# The severities after which the runbook wants a post-mortem, and a root cause to resolve.
POSTMORTEM_SEVERITIES = frozenset({Severity.SEV1, Severity.SEV2})
ROOT_CAUSE_REQUIRED = "SEV-1 and SEV-2 need the root cause, in one sentence."


def needs_postmortem(severity: Severity) -> bool:
    return severity in POSTMORTEM_SEVERITIES


class Declaration(BaseModel):
    """What a responder asks for when declaring; validated before anything is created."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    severity: Severity
    summary: str = Field(default="", max_length=SUMMARY_MAX)
    llm_related: bool = False
    exfiltration_suspected: bool = False
    private: bool = False
    drill: bool = False
    declared_by: str
    team_id: str

    @field_validator("title")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.split())


class InvalidDeclaration(ValueError):
    """A declaration that cannot be accepted; `problems` maps each field to one sentence for the person."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems


_PROBLEMS = {
    ("title", "missing"): "Give the incident a title.",
    ("title", "string_too_short"): "Give the incident a title.",
    ("title", "string_too_long"): f"Keep the title to {TITLE_MAX} characters.",
    ("severity", "missing"): "Pick a severity.",
    ("summary", "string_too_long"): f"Keep the summary to {SUMMARY_MAX} characters.",
}


def make_declaration(**fields: object) -> Declaration:
    """Validates a declaration, naming each problem per field (what a modal shows under the field)."""
    try:
        return Declaration.model_validate({name: value for name, value in fields.items() if value is not None})
    except ValidationError as error:
        problems: dict[str, str] = {}
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "title"
            problems.setdefault(name, _PROBLEMS.get((name, item["type"]), f"The {name} is not valid."))
        raise InvalidDeclaration(problems) from None


class Incident(BaseModel):
    model_config = ConfigDict(validate_assignment=True)
    number: int
    title: str
    severity: Severity
    summary: str = ""
    llm_related: bool = False
    exfiltration_suspected: bool = False
    private: bool = False
    drill: bool = False
    status: IncidentStatus = IncidentStatus.DECLARING
    team_id: str
    declared_by: str
    declared_at: datetime
    commander: str
    channel_id: str | None = None
    channel_name: str | None = None
    # milestones
    first_signal_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    # roles besides the commander
    communications: str | None = None
    scribe: str | None = None
    last_update_at: datetime | None = None
    # the resolution and its post-mortem
    root_cause: str = ""
    customer_impact: str = ""
    lessons: str = ""

    @classmethod
    def from_declaration(cls, number: int, declaration: Declaration, at: datetime) -> Incident:
        return cls(
            number=number,
            declared_at=at,
            commander=declaration.declared_by,
            **declaration.model_dump(),
        )

    @property
    def reference(self) -> str:
        return f"{'DRILL' if self.drill else 'INC'}-{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def closed_sentence(self) -> str:
        """What a person is told who tries to change an incident that is no longer open."""
        return f"{self.reference} is {self.status.value}; nothing more changes for it."


def slugify(text: str) -> str:
    """Lowercase letters and digits joined by single hyphens: what a Slack channel name may hold."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def channel_name(number: int, title: str, *, drill: bool = False, attempt: int = 1) -> str:
    """`inc-<number>-<slug>`, cut to Slack's 80 characters; attempt 2, 3, … adds `-2`, `-3` (name_taken)."""
    prefix = f"{'drill' if drill else 'inc'}-{number}"
    suffix = f"-{attempt}" if attempt > 1 else ""
    room = CHANNEL_NAME_MAX - len(prefix) - len(suffix) - 1
    slug = slugify(title)[:room].rstrip("-")
    return f"{prefix}-{slug}{suffix}" if slug else f"{prefix}{suffix}"
