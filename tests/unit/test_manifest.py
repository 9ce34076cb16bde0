"""The manifest grants exactly the bot scopes that the methods the bot calls and the events it hears need."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.fakes.slack import MANIFEST, load_specs

ROOT = Path(__file__).resolve().parents[2]
# Slack's Events API: the scope each subscribed bot event needs (none for app_home_opened).
EVENT_SCOPES = {
    "app_home_opened": None,
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
    "pin_added": "pins:read",
    "pin_removed": "pins:read",
}

# Scopes that add a field to a method's answer, and the field the bot reads: users:read.email puts the email in
# users.info's profile (an action item's owner, found in Jira by it).
FIELD_SCOPES = {"users:read.email": 'profile["email"]'}


def methods_called() -> set[str]:
    """Every Web API method the bot calls: all of them go through SlackApi._call with a literal name."""
    source = (ROOT / "bot" / "adapters" / "slack_api.py").read_text()
    return set(re.findall(r'self\._call\(\s*"([a-zA-Z.]+)"', source))


def test_manifest_scopes_are_exactly_what_the_bot_uses() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    specs = load_specs()
    called = methods_called()
    assert called, "found no Slack calls"
    unknown = called - specs.keys()
    assert not unknown, f"not Slack methods: {unknown}"

    needed_by_methods = {m: set((specs[m].get("scope") or {}).get("bot") or []) for m in called}
    uncovered = {m: s for m, s in needed_by_methods.items() if s and not s & granted}
    assert not uncovered, f"methods the manifest gives no scope for: {uncovered}"

    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert set(events) <= EVENT_SCOPES.keys()
    justified = {"commands"} | {s for scopes in needed_by_methods.values() for s in scopes}
    justified |= {EVENT_SCOPES[e] for e in events if EVENT_SCOPES[e]}
    source = (ROOT / "bot" / "adapters" / "slack_api.py").read_text()
    justified |= {scope for scope, field in FIELD_SCOPES.items() if field in source}
    assert granted - justified == set(), "scopes granted that nothing uses"
    assert {EVENT_SCOPES[e] for e in events if EVENT_SCOPES[e]} <= granted


def test_manifest_declares_the_command_interactivity_and_socket_mode() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/incident"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
