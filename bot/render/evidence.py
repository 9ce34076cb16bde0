"""Block Kit for what the probes found: the picker's evidence lines, the rows behind them (a reply under the
picker), the severity suggestion with its button, and related incidents."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.core.evidence import Finding, Probed, Ranked, SeveritySuggestion, Status, stated
from bot.core.incident import Incident
from bot.core.related import Match
from bot.render.actions import ActionId, SuggestionRef
from bot.render.blocks import Blocks, button, context, section
from bot.render.mrkdwn import channel, code, duration, escape
from bot.render.tables import table

ROWS_SHOWN = 5


def evidence_lines(ranking: list[Ranked], probed: Probed | None) -> list[str]:
    """What the org shows, playbook by playbook: evidence first, then clear, no data and not probed."""
    if probed is None:
        return []
    if not probed.done:
        return [f":hourglass_flowing_sand: Probing the org for each playbook's symptoms ({probed.probes} probes)…"]
    rows = f" · <{probed.rows_link}|the rows>" if probed.rows_link else ""
    lines = [f"*What the org shows* ({probed.probes} probes at {probed.at:%H:%M} UTC{rows}):"]
    for item in ranking:
        if item.evidence:
            said = "; ".join(escape(stated(f)) for f in item.evidence)
            lines.append(f":large_orange_diamond: *{item.number}. {escape(item.title)}* · {said}")
    groups = (
        (Status.CLEAR, "Checked, no evidence"),
        (Status.NO_DATA, "No data (not healthy: no answer, or not all read)"),
    )
    for status, label in groups:
        named = [f"{i.number}. {escape(i.title)}" for i in ranking if i.status is status]
        if named:
            lines.append(f"{label}: " + ", ".join(named))
    unprobed = [f"{i.number}. {escape(i.title)}" for i in ranking if i.status is None]
    if unprobed:
        lines.append("Not probed (its symptoms are not in data the bot reads): " + ", ".join(unprobed))
    return lines


def rows_message(
    probed: Probed, titles: dict[str, str], unprobed: tuple[tuple[str, tuple[str, ...]], ...]
) -> tuple[str, Blocks]:
    """Every probe's finding with the query it ran and its first rows, for the thread under the picker; then the
    symptoms no probe measures, which a person looks for."""
    blocks: Blocks = [section(f":mag: *What each probe found* ({probed.probes} probes at {probed.at:%H:%M} UTC)")]
    for finding in probed.in_order():
        blocks += _finding_blocks(finding, titles.get(finding.playbook or "", "Measured"))
    unmeasured = [f"*{escape(title)}*: " + "; ".join(escape(s) for s in symptoms) for title, symptoms in unprobed]
    if unmeasured:
        heading = "*Not measured by any probe* (look for these yourself):"
        blocks = [*blocks[:49], section("\n".join([heading, *unmeasured]))]
    return f"What each probe found ({probed.probes} probes)", blocks[:50]


def _finding_blocks(finding: Finding, where: str) -> Blocks:
    head = f"*{escape(where)}* · {escape(finding.symptom)}: {finding.status.value}\n{escape(stated(finding))}"
    blocks: Blocks = [section(head)]
    if finding.rows:
        blocks.append(section(code(table(finding.rows, ROWS_SHOWN))))
    if finding.statement:
        blocks.append(context(escape(finding.statement)))
    return blocks


def severity_message(incident: Incident, suggestion: SeveritySuggestion, said: str) -> tuple[str, Blocks]:
    verb = "Raise" if suggestion.raise_ else "Lower"
    measured, label = suggestion.measured.value, suggestion.measured.label
    declared = suggestion.declared.value
    take = SuggestionRef(incident=incident.number, suggested=measured, declared=declared, keep=False)
    keep = SuggestionRef(incident=incident.number, suggested=measured, declared=declared, keep=True)
    return said, [
        section(
            f":straight_ruler: {escape(said)}\nThe bot does not change the severity itself; the commander decides."
        ),
        {
            "type": "actions",
            "block_id": "severity-suggestion",
            "elements": [
                button(f"{verb} to {label}", ActionId.SEVERITY_ANSWER, take, "danger", suffix="take"),
                button(f"Keep {suggestion.declared.label}", ActionId.SEVERITY_ANSWER, keep, suffix="keep"),
            ],
        },
    ]


def severity_answered(said: str, answer: str) -> tuple[str, Blocks]:
    """The suggestion once someone answered it: the measurement stays, the buttons go."""
    return said, [section(f":straight_ruler: {escape(said)}"), context(answer)]


def related_message(matches: list[Match], heading: str, timezone: ZoneInfo) -> tuple[str, Blocks]:
    lines = [f":card_index_dividers: *{heading}*"]
    lines += [related_line(match, timezone) for match in matches]
    return heading, [section("\n".join(lines))]


def related_line(match: Match, timezone: ZoneInfo) -> str:
    incident = match.past.incident
    mitigated = match.time_to_mitigate
    took = f"mitigated in {duration(mitigated)}" if mitigated is not None else "no mitigation recorded"
    switches = ", ".join(escape(s) for s in match.past.switches) or "no kill switch"
    where = channel(incident.channel_id) if incident.channel_id else incident.reference
    draft = (
        f"post-mortem: the {match.past.postmortem} in {where}" if match.past.postmortem else f"no post-mortem ({where})"
    )
    return (
        f"• *{incident.reference}* {incident.severity.label} · {escape(incident.title)} "
        f"({incident.declared_at.astimezone(timezone):%Y-%m-%d}) · {took} · {switches} · {draft}\n"
        f"      _{'; '.join(escape(r) for r in match.reasons)}_"
    )
