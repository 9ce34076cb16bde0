"""The audit trail against someone who can write to Redis: a real trail, written by a real execution, changed in
Redis the ways such a person could; the check names each change, and the head shown in Slack catches the trim
that Redis alone cannot."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import redis

from bot.core.audit import AuditEntry, AuditHead, AuditKind, Seal
from bot.core.incident import IncidentStatus
from bot.services.audit import AllChecked
from bot.services.errors import UserError
from tests.conftest import RunningBot, jwt_settings, run_cli
from tests.driver import ALICE, BOB, CAROL, approve, incident_channel, request, request_id, text_of
from tests.fakes.salesforce import FakeSalesforce

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

KEY = "audit-key-for-tests-0123456789abcdef"
ANCHOR = re.compile(r"Audit trail: (\d+) entries, head `(\d+:[0-9a-f]{8})`")


@pytest.fixture
def keyed_bot(bot_factory: Any, fake_org: FakeSalesforce) -> RunningBot:
    return bot_factory(**jwt_settings(fake_org), audit_signing_key=KEY)  # type: ignore[no-any-return]


def executed(bot: RunningBot) -> dict[str, Any]:
    """Incident 1 with one kill switch requested, approved, executed and verified: five entries. The card."""
    channel = incident_channel(bot)
    approval, card = request(bot, channel, "org-chat-off")
    approve(bot, channel, card, approval)
    assert bot.run_jobs() == 0
    bot.fake.wait_until(lambda: "*Verified*" in text_of(card) and "Audit trail: 5 entries" in text_of(card))
    return card


class Tamper:
    """What someone with write access to Redis can do to incident 1's trail."""

    def __init__(self, bot: RunningBot) -> None:
        prefix = bot.services.settings.key_prefix
        self.redis: redis.Redis = bot.services.redis.data
        self.stream, self.head = f"{prefix}:incident:1:audit", f"{prefix}:incident:1:audit:head"

    def rewrite(self, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
        """Every entry read, changed, and the stream written again (entry ids kept where they are)."""
        raw = self.redis.xrange(self.stream)
        entries = change([AuditEntry.model_validate_json(fields["entry"]).model_dump(mode="json") for _, fields in raw])
        self.redis.delete(self.stream)
        for entry in entries:
            self.redis.xadd(self.stream, {"entry": AuditEntry.model_validate(entry).model_dump_json()})

    def reseal(self, seal: Seal) -> None:
        """The whole chain and its head rebuilt with `seal`: what a person without the bot's key can do."""
        raw = [AuditEntry.model_validate_json(fields["entry"]) for _, fields in self.redis.xrange(self.stream)]
        self.redis.delete(self.stream, self.head)
        head = AuditHead(0, "0" * 64)
        for entry in raw:
            sealed = seal.entry(1, entry.model_copy(update={"actor": "U0MALLORY"}), head)
            self.redis.xadd(self.stream, {"entry": sealed.model_dump_json()})
            head = AuditHead(sealed.position, sealed.hash)
        self.redis.hset(self.head, mapping={"count": head.count, "hash": head.hash, "signature": seal.head(1, head)})

    def drop_last(self, count: int) -> None:
        for entry_id, _ in self.redis.xrevrange(self.stream, count=count):
            self.redis.xdel(self.stream, entry_id)


def swap_2_and_3(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entries[0], entries[2], entries[1], *entries[3:]]


def approver_becomes_mallory(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries[1]["actor"] = "U0MALLORY"
    return entries


TAMPERINGS: dict[str, tuple[Callable[[Tamper], None], list[str]]] = {
    "an approval re-attributed": (
        lambda t: t.rewrite(approver_becomes_mallory),
        ["entry 2 was edited or forged (its content does not match its seal)"],
    ),
    "two entries swapped": (
        lambda t: t.rewrite(swap_2_and_3),
        ["entry 3 is out of order (found where entry 2 belongs)"],
    ),
    "the last two entries removed (XDEL)": (
        lambda t: t.drop_last(2),
        ["the last 2 entries are missing (the head says 5)"],
    ),
    "the whole stream deleted": (
        lambda t: t.redis.delete(t.stream),
        [
            "the last 5 entries are missing (the head says 5)",
            "request {request} has no “requested” entry (its entries were removed)",
        ],
    ),
    "the stream and its head deleted": (
        lambda t: t.redis.delete(t.stream, t.head),
        ["request {request} has no “requested” entry (its entries were removed)"],
    ),
    "the head deleted": (lambda t: t.redis.delete(t.head), ["the signed head is missing (deleted)"]),
    "re-sealed with plain SHA-256": (
        lambda t: t.reseal(Seal(None)),
        [
            "entry 1 is sealed with sha256 where this bot seals with hmac-sha256 (re-sealed, or AUDIT_SIGNING_KEY "
            "differs from the bot's)"
        ],
    ),
    "re-sealed with another key": (
        lambda t: t.reseal(Seal(b"mallory-guessed-a-key-0123456789")),
        ["entry 1 was edited or forged (its content does not match its seal)"],
    ),
}


def test_a_request_is_audited_with_what_was_asked_and_who_may_approve(keyed_bot: RunningBot) -> None:
    channel = incident_channel(keyed_bot)
    approval, _ = request(keyed_bot, channel, "org-chat-off")
    asked = keyed_bot.services.approvals.get(request_id(approval))[0]
    entry = next(e for e in keyed_bot.services.approvals.audit.entries(1) if e.kind is AuditKind.REQUESTED)
    assert (entry.actor, entry.request) == (ALICE, asked.id)
    assert entry.summary == f"requested: {asked.title}: scope unclear, stop the bleeding"
    assert entry.details == {
        "title": asked.title,
        "reason": "scope unclear, stop the bleeding",
        "plan": asked.plan,
        "target": asked.target,
        "approvers": sorted([BOB, CAROL]),  # the channel's other members, fixed now
    }


def test_a_resolved_incidents_trail_is_checked_and_an_unknown_one_refused(keyed_bot: RunningBot) -> None:
    executed(keyed_bot)
    incidents = keyed_bot.services.incidents.store
    incident = incidents.get(1) or pytest.fail("no incident 1")
    incidents.save(incident.model_copy(update={"status": IncidentStatus.RESOLVED}))
    assert keyed_bot.services.audit.check(1)[1] == []
    with pytest.raises(UserError, match=r"^There is no incident 9\.$"):
        keyed_bot.services.audit.check(9)


@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_each_change_to_the_trail_is_named(keyed_bot: RunningBot, tampering: str) -> None:
    executed(keyed_bot)
    assert keyed_bot.services.audit.check(1)[1] == []
    change, expected = TAMPERINGS[tampering]
    change(Tamper(keyed_bot))
    request = next(iter(keyed_bot.services.approvals.approvals.of_incident(1)))
    assert keyed_bot.services.audit.check(1)[1] == [line.format(request=request) for line in expected]


def test_a_trim_to_a_head_kept_from_earlier_disagrees_with_the_card(keyed_bot: RunningBot) -> None:
    """Someone who kept the signed head while the request was pending trims the trail back to it: Redis alone
    cannot tell (the head is genuine), the card that showed five entries can."""
    tamper = Tamper(keyed_bot)
    channel = incident_channel(keyed_bot)
    approval, card = request(keyed_bot, channel, "org-chat-off")
    kept = tamper.redis.hgetall(tamper.head)  # one entry: requested
    approve(keyed_bot, channel, card, approval)
    keyed_bot.run_jobs()
    keyed_bot.fake.wait_until(lambda: "Audit trail: 5 entries" in text_of(card))
    shown = ANCHOR.search(text_of(card))
    assert shown is not None and shown.group(2) == keyed_bot.services.audit.head(1).short

    tamper.drop_last(4)
    tamper.redis.hset(tamper.head, mapping=kept)
    assert keyed_bot.services.audit.check(1)[1] == []  # what Redis alone can say
    assert keyed_bot.services.audit.check(1, AuditHead.parse(shown.group(2)))[1] == [
        "Slack showed 5 entries, the trail has 1"
    ]


def verify(bot: RunningBot, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    settings = bot.services.settings
    env = {
        "REDIS_URL": settings.redis_url.get_secret_value() if settings.redis_url else "",
        "KEY_PREFIX": settings.key_prefix,
        **({"AUDIT_SIGNING_KEY": key} if key else {}),
    }
    return run_cli("audit", "verify", *args, env=env)


def test_the_command_exits_0_intact_1_broken_2_unknown(keyed_bot: RunningBot) -> None:
    card = executed(keyed_bot)
    shown = ANCHOR.search(text_of(card))
    assert shown is not None
    head = keyed_bot.services.audit.head(1)
    intact = verify(keyed_bot, "1", "--expect", shown.group(2))
    assert (intact.returncode, intact.stdout, intact.stderr) == (
        0,
        f"OK: incident 1 has 5 audit entries sealed with hmac-sha256; head {head.short} signed and intact.\n",
        "",
    )
    Tamper(keyed_bot).drop_last(1)
    broken = verify(keyed_bot, "1", "--expect", shown.group(2))
    assert (broken.returncode, broken.stdout) == (1, "")
    assert broken.stderr == "Broken: incident 1: the last entry is missing (the head says 5).\n"
    unknown = verify(keyed_bot, "9")
    assert (unknown.returncode, unknown.stderr) == (2, "There is no incident 9.\n")
    malformed = verify(keyed_bot, "1", "--expect", "five")
    assert malformed.returncode == 2
    assert malformed.stderr.splitlines()[-1].endswith(
        "expected COUNT:HASH as a card shows it (such as 7:3f9a1c0e), not 'five'"
    )


def test_without_the_key_the_command_says_it_cannot_vouch(keyed_bot: RunningBot) -> None:
    executed(keyed_bot)
    result = verify(keyed_bot, "1", key=None)
    assert result.returncode == 1
    assert result.stderr == (
        "Broken: incident 1: entry 1 is sealed with hmac-sha256 where this bot seals with sha256 (re-sealed, or "
        "AUDIT_SIGNING_KEY differs from the bot's).\n"
    )


def verify_all(bot: RunningBot, **keys: str) -> subprocess.CompletedProcess[str]:
    settings = bot.services.settings
    env = {
        "REDIS_URL": settings.redis_url.get_secret_value() if settings.redis_url else "",
        "KEY_PREFIX": settings.key_prefix,
        **({"AUDIT_SIGNING_KEY": KEY} if not keys else {}),
        **keys,
    }
    return run_cli("audit", "verify", "--all", env=env)


def test_a_whole_trail_deleted_is_caught_by_the_witness(keyed_bot: RunningBot) -> None:
    """Deleting an incident's stream and head passes the incident's own check when its requests go too; the
    witness chain, which sealed every head the trail reached, does not."""
    executed(keyed_bot)
    keyed_bot.slack.command("declare sev4 A quiet one")  # a second incident, without any audit entry
    keyed_bot.fake.wait_until(lambda: keyed_bot.fake.channel_named("inc-2-"))
    intact = verify_all(keyed_bot)
    assert (intact.returncode, intact.stdout) == (
        0,
        "OK: 2 incidents, 5 audit entries, each trail intact and as the witness chain saw it.\n",
    )
    service = keyed_bot.services.audit  # the same check in process (the CLI above runs installed code)
    assert service.check_all() == AllChecked([], {}, 2, 5)
    tamper = Tamper(keyed_bot)
    prefix = keyed_bot.services.settings.key_prefix
    tamper.redis.delete(tamper.stream, tamper.head, f"{prefix}:incident:1:approvals")
    assert service.check(1)[1] == []  # what the incident alone can say: nothing
    broken = verify_all(keyed_bot)
    assert broken.returncode == 1
    assert broken.stderr == "Broken: incident 1: the witness showed 5 entries, the trail has 0.\n"
    assert service.check_all() == AllChecked([], {1: ["the witness showed 5 entries, the trail has 0"]}, 2, 0)

    tamper.redis.delete(f"{prefix}:incident:1")  # the incident itself gone: the witness still names it
    assert service.check_all().incidents[1][0] == "the incident is gone, but the witness saw its audit trail"
    tamper.redis.delete(f"{prefix}:audit:witness")  # and the witness's entries too: its head remains, signed
    assert (
        "Broken: the witness chain: the last 5 entries are missing (the head says 5)." in verify_all(keyed_bot).stderr
    )
    assert service.check_all().witness == ["the last 5 entries are missing (the head says 5)"]


def test_every_entry_is_also_one_json_log_line_with_its_seal(
    keyed_bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="bot.audit")
    executed(keyed_bot)
    logged = [record.__dict__["audit"] for record in caplog.records if record.name == "bot.audit"]
    trail = keyed_bot.services.audit.entries(1)
    assert [entry["hash"] for entry in logged] == [entry.hash for entry in trail]
    assert logged[0]["summary"].startswith("requested: orgChatSurfacesEnabled = none")


def test_a_private_incidents_entries_are_logged_without_their_words(
    keyed_bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="bot.audit")
    channel = incident_channel(keyed_bot, "declare --private sev1 Quokka exfiltration")
    request(keyed_bot, channel, "org-chat-off")
    logged = [record.__dict__["audit"] for record in caplog.records if record.name == "bot.audit"]
    assert logged and all(entry["summary"] == "[private incident]" and entry["details"] == {} for entry in logged)
    assert "Quokka" not in caplog.text and "stop the bleeding" not in caplog.text


def test_rotating_the_key_keeps_every_trail_verifiable(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    """Entries sealed with AUDIT_SIGNING_KEY, then the key rotated (AUDIT_SIGNING_KEYS names the new one first):
    new entries name the new key, the old ones still verify, and dropping the old key says which key is missing."""
    old = bot_factory(**jwt_settings(fake_org), audit_signing_key=KEY)
    executed(old)
    prefix = old.services.settings.key_prefix
    new_key = "rotated-key-2026-12-0123456789abcdef"
    rotated = bot_factory(
        **jwt_settings(fake_org), key_prefix=prefix, audit_signing_key=KEY, audit_signing_keys=f"2026-12:{new_key}"
    )
    rotated.services.audit.record(
        rotated.services.audit.about(1, "step:note", AuditKind.CHECKED, "U0ALICE01", "after rotation", private=False)
    )
    entries = rotated.services.audit.entries(1)
    assert [e.key_id for e in entries] == [""] * 5 + ["2026-12"]
    assert rotated.services.audit.check(1)[1] == []
    both = verify_all(rotated, AUDIT_SIGNING_KEY=KEY, AUDIT_SIGNING_KEYS=f"2026-12:{new_key}")
    assert both.returncode == 0, both.stderr
    new_only = verify_all(rotated, AUDIT_SIGNING_KEYS=f"2026-12:{new_key}")
    assert new_only.returncode == 1
    assert (
        "entry 1 is sealed with AUDIT_SIGNING_KEY, which this bot does not hold (keep retired keys in "
        "AUDIT_SIGNING_KEYS, and AUDIT_SIGNING_KEY for the seals made before keys were named)" in new_only.stderr
    )
