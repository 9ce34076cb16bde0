"""The one error type a use case raises for the person: something they asked cannot be done, and why."""

from __future__ import annotations

from collections.abc import Callable

from bot.core.incident import Incident, IncidentStatus


class UserError(Exception):
    """One sentence for the person who acted. People in it are named by id (`{commander}` with
    `commander="U…"`), and the presenter writes them as the destination shows people."""

    def __init__(self, message: str, **people: str) -> None:
        super().__init__(message.format(**people) if people else message)
        self.template = message
        self.people = people

    def sentence(self, person: Callable[[str], str]) -> str:
        if not self.people:
            return self.template
        return self.template.format(**{name: person(user) for name, user in self.people.items()})


def incident_or_refuse(found: Incident | None, number: int, *, open_only: bool) -> Incident:
    """The incident a person asked about; the sentence when there is none (or, for a change, it is closed)."""
    if found is None or found.status is IncidentStatus.DECLARING:
        raise UserError(f"There is no incident {number}.")
    if open_only and not found.is_open:
        raise UserError(found.closed_sentence)
    return found
