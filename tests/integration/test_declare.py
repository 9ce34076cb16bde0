"""Declaring an incident over real HTTP, against the fake Slack and a real Redis."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.render.modals import DECLARE_CALLBACK
from tests.conftest import RunningBot
from tests.driver import ALICE, BOB, declared_channel
from tests.fakes.slack import BOT_USER, Channel


def open_declare_form(bot: RunningBot, text: str = "") -> dict[str, Any]:
    response = bot.slack.command(text)
    assert response.status_code == 200
    views = bot.fake.wait_until(lambda: bot.fake.open_views(DECLARE_CALLBACK))
    return views[-1]  # type: ignore[no-any-return]


def header_of(channel: Channel) -> dict[str, Any]:
    (pinned,) = channel.pins
    return channel.messages[pinned]


def block_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False)


def test_declare_by_modal_creates_channel_pins_header_and_links_back(bot: RunningBot) -> None:
    view = open_declare_form(bot)
    severities = view["blocks"][1]["element"]["options"]
    assert [o["text"]["text"] for o in severities] == ["SEV-1", "SEV-2", "SEV-3", "SEV-4"]
    assert severities[0]["description"]["text"].startswith("All Org Chat / pipelines down")

    response = bot.slack.submit(
        view,
        {
            "title": "Org Chat returns 500 for everyone",
            "severity": "1",
            "summary": "Started 13:55",
            "flags": ["llm_related"],
        },
    )
    assert response.status_code == 200 and response.text == ""

    channel = declared_channel(bot)
    assert channel.name == "inc-1-org-chat-returns-500-for-everyone"
    assert not channel.is_private
    assert channel.members == {BOT_USER, ALICE}
    header = block_text(header_of(channel))
    assert "INC-1 · SEV-1 · Org Chat returns 500 for everyone" in header
    assert "All Org Chat / pipelines down OR data exfiltration suspected" in header
    assert "&lt; 15 min, due 2026-11-25 14:15 UTC" in header  # declared 14:00 by the test clock
    assert "*Commander*\\n<@U0ALICE01>" in header
    assert "Investigating" in header and "Started 13:55" in header and "LLM / provider related" in header

    reply = bot.fake.wait_until(lambda: bot.fake.responses)
    assert reply[-1]["text"] == f":rotating_light: Declared INC-1 (SEV-1): join <#{channel.id}>"
    assert reply[-1]["response_type"] == "ephemeral"

    incident = bot.services.incidents.in_channel(channel.id)
    assert (
        incident is not None
        and incident.llm_related
        and bot.services.present.incidents.messages.get(incident.number, "header") in channel.pins
    )


def test_declare_with_arguments_skips_the_modal(bot: RunningBot) -> None:
    response = bot.slack.command("declare sev2 Anthropic 5xx on all pipelines")
    assert response.status_code == 200
    assert "Declaring SEV-2: Anthropic 5xx on all pipelines" in response.text
    channel = declared_channel(bot)
    assert channel.name == "inc-1-anthropic-5xx-on-all-pipelines"
    assert "&lt; 1 h, due 2026-11-25 15:00 UTC" in block_text(header_of(channel))
    assert bot.fake.views == {}


def test_incident_numbers_are_sequential(bot: RunningBot) -> None:
    bot.slack.command("declare sev3 First thing")
    declared_channel(bot, "inc-1-")
    bot.slack.command("declare sev4 Second thing")
    assert declared_channel(bot, "inc-2-").name == "inc-2-second-thing"


def test_name_taken_gets_a_suffix(bot: RunningBot) -> None:
    bot.fake.add_channel("inc-1-provider-down")
    bot.slack.command("declare sev2 Provider down")
    channel = declared_channel(bot, "inc-1-provider-down-")
    assert channel.name == "inc-1-provider-down-2"
    assert [c.args["name"] for c in bot.fake.calls_to("conversations.create")] == [
        "inc-1-provider-down",
        "inc-1-provider-down-2",
    ]


def test_channel_name_is_valid_for_slack_whatever_the_title(bot: RunningBot) -> None:
    bot.slack.command("declare sev3 Ünïcode & <b>HTML</b> — pipelines")
    channel = declared_channel(bot)
    assert channel.name == "inc-1-n-code-b-html-b-pipelines"


def test_over_long_title_in_arguments_is_refused_with_a_sentence(bot: RunningBot) -> None:
    response = bot.slack.command("declare sev2 " + "y" * 81)
    assert response.status_code == 200
    assert response.text == "Keep the title to 80 characters."
    assert bot.fake.calls_to("conversations.create") == []


def test_empty_and_over_long_titles_are_errors_under_the_modal_field(bot: RunningBot) -> None:
    view = open_declare_form(bot)
    for title, error in (("   ", "Give the incident a title."), ("z" * 81, "Keep the title to 80 characters.")):
        response = bot.slack.submit(view, {"title": title, "severity": "2"})
        assert response.status_code == 200
        assert response.json() == {"response_action": "errors", "errors": {"title": error}}
    response = bot.slack.submit(view, {"title": "No severity picked"})
    assert response.json() == {"response_action": "errors", "errors": {"severity": "Pick a severity."}}
    time.sleep(0.2)
    assert bot.fake.calls_to("conversations.create") == []
    assert bot.services.incidents.store.open_incidents() == []


def test_declare_text_without_severity_opens_the_prefilled_form(bot: RunningBot) -> None:
    view = open_declare_form(bot, "declare --private Strange SOQL from one user")
    assert view["blocks"][0]["element"]["initial_value"] == "Strange SOQL from one user"
    assert [o["value"] for o in view["blocks"][3]["element"]["initial_options"]] == ["private"]


def test_private_declaration_creates_a_private_channel(bot: RunningBot) -> None:
    bot.slack.command("declare --private sev1 Possible exfiltration")
    channel = declared_channel(bot)
    assert channel.is_private and channel.id.startswith("G")


def test_unknown_subcommand_and_help_answer_with_the_command_list(bot: RunningBot) -> None:
    for text, intro in (("frobnicate now", "I don't know `frobnicate now`."), ("help", "Here is what")):
        response = bot.slack.command(text)
        assert response.status_code == 200
        body = response.json()
        assert body["text"].startswith(intro)
        assert body.get("response_type", "ephemeral") == "ephemeral"
        assert "/incident declare [--private] [--drill] [--llm] sev2 TITLE" in json.dumps(body["blocks"])


def test_invalid_severity_is_named(bot: RunningBot) -> None:
    response = bot.slack.command("declare sev7 Broken")
    assert response.text == "`sev7` is not a severity: use sev1, sev2, sev3 or sev4."


def test_a_replayed_signed_request_gets_401(bot: RunningBot) -> None:
    body = bot.slack.command_body("declare sev2 Replayed", ALICE, "C0GENERAL")
    stamp = int(time.time())
    assert bot.slack.post_form(body, timestamp=stamp).status_code == 200
    assert bot.slack.post_form(body, timestamp=stamp).status_code == 401  # the same signature again
    declared_channel(bot)
    time.sleep(0.2)
    assert len(bot.fake.calls_to("conversations.create")) == 1


def test_forged_and_stale_signatures_get_401_and_create_nothing(bot: RunningBot) -> None:
    forged = bot.slack.command("declare sev1 Forged", secret="not-the-signing-secret")
    stale = bot.slack.command("declare sev1 Stale", timestamp=int(time.time()) - 6 * 60)
    assert (forged.status_code, stale.status_code) == (401, 401)
    time.sleep(0.2)
    assert bot.fake.calls_to("conversations.create") == []
    assert bot.services.incidents.store.open_incidents() == []


def test_a_retried_command_delivery_declares_once(bot: RunningBot) -> None:
    body = bot.slack.command_body("declare sev2 Retried delivery", ALICE, "C0GENERAL")
    first = bot.slack.post_form(body)
    # Slack signs a retry anew, with the time it sends it
    second = bot.slack.post_form(
        body, timestamp=int(time.time()) + 3, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert (first.status_code, second.status_code) == (200, 200)
    declared_channel(bot)
    bot.fake.wait_until(lambda: len(bot.fake.responses) == 2)
    time.sleep(0.2)
    assert len(bot.fake.calls_to("conversations.create")) == 1
    assert len(bot.services.incidents.store.open_incidents()) == 1


def test_a_double_submitted_modal_declares_once(bot: RunningBot) -> None:
    view = open_declare_form(bot)
    values = {"title": "Double submit", "severity": "3"}
    assert bot.slack.submit(view, values).status_code == 200
    assert bot.slack.submit(view, values).status_code == 200
    channel = declared_channel(bot)
    texts = [r["text"] for r in bot.fake.wait_until(lambda: len(bot.fake.responses) == 2 and bot.fake.responses)]
    assert f":rotating_light: Declared INC-1 (SEV-3): join <#{channel.id}>" in texts
    assert any("already declared" in t or "still being declared" in t for t in texts)
    time.sleep(0.2)
    assert len(bot.fake.calls_to("conversations.create")) == 1


def test_a_rate_limited_slack_call_is_waited_out(bot: RunningBot) -> None:
    bot.fake.inject("conversations.create", status=429, retry_after=1)
    bot.fake.inject("chat.postMessage", status=500)
    started = time.monotonic()
    bot.slack.command("declare sev2 Rate limited")
    channel = declared_channel(bot)
    assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    assert len(bot.fake.calls_to("conversations.create")) == 2
    bot.fake.wait_until(lambda: len(channel.messages) == 3)  # header, checklist, playbook picker
    assert len(bot.fake.calls_to("chat.postMessage")) == 3 + 1  # the 500 was retried once


def test_a_slack_refusal_mid_declare_is_told_to_the_declarer(bot: RunningBot) -> None:
    bot.fake.inject("conversations.create", error="restricted_action")
    bot.slack.command("declare sev2 Not allowed")
    reply = bot.fake.wait_until(lambda: bot.fake.responses)
    assert reply[-1]["text"] == (
        ":warning: Slack refused `conversations.create` (restricted_action); the request stopped there."
    )


def test_responders_usergroup_is_invited(bot_factory: Any) -> None:
    bot = bot_factory(responders_usergroup="S0ONCALL1")
    bot.fake.add_usergroup("S0ONCALL1", [BOB, "U0CAROL01", ALICE])
    bot.slack.command("declare sev2 Paging the on-call")
    channel = declared_channel(bot)
    bot.fake.wait_until(lambda: len(channel.members) == 4)
    assert channel.members == {BOT_USER, ALICE, BOB, "U0CAROL01"}


def test_a_responders_group_of_five_hundred_is_invited_a_hundred_at_a_time(bot_factory: Any) -> None:
    bot = bot_factory(responders_usergroup="S0EVERYONE")
    everyone = [f"U0PERSON{n:03d}" for n in range(500)]
    bot.fake.add_usergroup("S0EVERYONE", everyone)
    bot.slack.command("declare sev1 Everyone piles in")
    channel = declared_channel(bot)
    bot.fake.wait_until(lambda: len(channel.members) == 502)  # the bot, the declarer and the five hundred
    invited = [len(call.args["users"].split(",")) for call in bot.fake.calls_to("conversations.invite")]
    assert invited == [100, 100, 100, 100, 100, 1]  # the declarer first, then the group
    assert bot.fake.rate_limited == []


def test_status_in_the_incident_channel_and_elsewhere(bot: RunningBot) -> None:
    bot.slack.command("declare sev2 First")
    first = declared_channel(bot, "inc-1-")
    bot.slack.command("declare sev1 Second")
    declared_channel(bot, "inc-2-")

    bot.slack.command("status", channel_id=first.id)
    here = bot.fake.wait_until(lambda: [r for r in bot.fake.responses if "blocks" in r])
    assert "INC-1 · SEV-2 · First" in json.dumps(here[-1]["blocks"], ensure_ascii=False)

    bot.slack.command("status", channel_id="C0GENERAL")
    listing = bot.fake.wait_until(lambda: [r for r in bot.fake.responses if "Open incidents (2)" in json.dumps(r)])
    text = json.dumps(listing[-1]["blocks"])
    assert text.index("SEV-1") < text.index("SEV-2")  # most severe first


def test_home_tab_lists_open_incidents(bot: RunningBot) -> None:
    bot.slack.command("declare sev3 Slow pipelines")
    channel = declared_channel(bot)
    bot.clock.advance(hours=2, minutes=5)
    response = bot.slack.event(
        {
            "type": "app_home_opened",
            "user": ALICE,
            "channel": "D0ALICE01",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
    )
    assert response.status_code == 200
    home = bot.fake.wait_until(lambda: bot.fake.homes.get(ALICE))
    text = json.dumps(home["blocks"])
    assert f"*SEV-3* <#{channel.id}> Slow pipelines" in text and "open 2h 5m" in text


def mrkdwn_texts(node: Any) -> list[str]:
    """Every string Slack reads as mrkdwn in a message: the `text` fallback and mrkdwn text objects."""
    if isinstance(node, list):
        return [text for item in node for text in mrkdwn_texts(item)]
    if not isinstance(node, dict):
        return []
    found = [node["text"]] if node.get("type") == "mrkdwn" else []
    return found + [
        text
        for key, value in node.items()
        if key != "text" or node.get("type") != "mrkdwn"
        for text in mrkdwn_texts(value)
    ]


def test_user_text_cannot_mention_or_link(bot: RunningBot) -> None:
    bot.slack.command("declare sev3 <!channel> see <https://evil.example|docs>")
    channel = declared_channel(bot)
    header = header_of(channel)
    texts = [header["text"], *mrkdwn_texts(header["blocks"])]
    assert not [t for t in texts if "<!channel>" in t or "<https://evil" in t]
    assert "&lt;!channel&gt;" in header["text"]
    reply = bot.fake.wait_until(lambda: bot.fake.responses)
    assert "<!channel>" not in reply[-1]["text"]
