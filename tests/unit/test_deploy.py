"""The one-click deploy describes the bot as it is: every setting it lists is one the bot reads, the ones an HTTP
deployment cannot start without are required, its processes are the Procfile's, and the platform finds the
Python version and the project to install."""

from __future__ import annotations

import json
from pathlib import Path

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
APP = json.loads((ROOT / "app.json").read_text())


def test_every_setting_app_json_lists_is_one_the_bot_reads_and_is_described() -> None:
    known = {name.upper() for name in Settings.model_fields}
    assert set(APP["env"]) <= known, set(APP["env"]) - known
    assert all(entry.get("description") for entry in APP["env"].values())


def test_the_settings_an_http_deployment_needs_are_required_and_the_rest_are_not() -> None:
    required = {name for name, entry in APP["env"].items() if entry.get("required", True) and "generator" not in entry}
    assert required == {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"}
    assert APP["env"]["AUDIT_SIGNING_KEY"]["generator"] == "secret"  # set for the operator, never left out
    assert "SLACK_APP_TOKEN" not in APP["env"]  # Socket Mode is for laptops: a web dyno serves HTTP


def test_the_formation_is_the_procfiles_processes_on_a_redis_add_on() -> None:
    processes = {line.split(":", 1)[0] for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()}
    assert set(APP["formation"]) == processes == {"web", "worker"}
    assert [addon["plan"].split(":")[0] for addon in APP["addons"]] == ["heroku-redis"]  # sets REDIS_URL


def test_the_platform_finds_the_python_version_and_the_project() -> None:
    version = (ROOT / ".python-version").read_text().strip()
    assert version == "3.11"
    requires = next(line for line in (ROOT / "pyproject.toml").read_text().splitlines() if "requires-python" in line)
    assert version in requires
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert lines == ["."]  # the project itself, with pyproject.toml's dependencies
