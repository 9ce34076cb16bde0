"""Related incidents: which earlier incidents look like this one (the same playbook, the same evidence, a similar
title), so that responders see what fixed the same thing last time. Plain Python over what the stores hold."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from bot.core.incident import Incident

SHOWN = 3
TITLE_SIMILAR = 0.25  # the share of title words two incidents have in common (Jaccard) that makes them similar
_WORD = re.compile(r"[a-z0-9]{3,}")
_COMMON = frozenset({"the", "and", "for", "all", "from", "with", "are", "not", "on", "in", "inc", "incident"})


@dataclass(frozen=True)
class Past:
    """An earlier incident as it is remembered: its playbooks and the probes that found evidence in it."""

    incident: Incident
    playbooks: frozenset[str]
    evidence: frozenset[str]
    switches: tuple[str, ...] = ()  # the kill switches sent to the org in it, by title
    postmortem: str | None = None  # where its draft is in its channel: "canvas" or "file"


@dataclass(frozen=True)
class Match:
    past: Past
    score: float
    reasons: tuple[str, ...]

    @property
    def time_to_mitigate(self) -> timedelta | None:
        incident = self.past.incident
        return incident.mitigated_at - incident.declared_at if incident.mitigated_at else None


def title_words(title: str) -> frozenset[str]:
    return frozenset(_WORD.findall(title.lower())) - _COMMON


def title_similarity(one: str, other: str) -> float:
    a, b = title_words(one), title_words(other)
    return len(a & b) / len(a | b) if a and b else 0.0


def related(
    title: str,
    playbooks: Iterable[str],
    evidence: Iterable[str],
    pasts: Iterable[Past],
    playbook_titles: dict[str, str],
    limit: int = SHOWN,
) -> list[Match]:
    """The earlier incidents that share a playbook, evidence or most of the title, best first (newest first
    among equals); at most `limit`."""
    wanted_playbooks, wanted_evidence = set(playbooks), set(evidence)
    matches = []
    for past in pasts:
        reasons, score = [], 0.0
        same_playbooks = sorted(wanted_playbooks & past.playbooks)
        if same_playbooks:
            score += 3 * len(same_playbooks)
            reasons.append("same playbook: " + ", ".join(playbook_titles.get(k, k) for k in same_playbooks))
        same_evidence = sorted(wanted_evidence & past.evidence)
        if same_evidence:
            score += 2 * len(same_evidence)
            reasons.append("same evidence: " + ", ".join(same_evidence))
        similarity = title_similarity(title, past.incident.title)
        if similarity >= TITLE_SIMILAR:
            score += 4 * similarity
            reasons.append("similar title")
        if reasons:
            matches.append(Match(past, round(score, 3), tuple(reasons)))
    matches.sort(key=lambda m: (-m.score, -m.past.incident.number))
    return matches[:limit]
