"""`incident-bot`: run the bot, run the worker, and the operator commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

from bot.config import ENV_FILE_VARIABLE, STEP_SETTINGS, Settings, SettingsError, load_settings
from bot.core.audit import SHORT, AuditHead
from bot.logs import configure as configure_logs


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    env_file = getattr(args, "env_file", None)
    try:
        settings = load_settings(env_file)
        if args.command == "playbooks":
            return playbooks_command(args, settings)
        configure_logs("CRITICAL" if args.command == "doctor" else settings.log_level, settings.secret_values)
        if args.command == "run":
            return run(settings, env_file, with_worker=not args.without_worker)
        if args.command == "worker":
            return work(settings)
        if args.command == "audit":
            if args.audit_command == "adopt":
                return adopt_trails(settings)
            if args.all:
                return verify_all(settings)
            return verify_audit(settings, args.incident, args.expect)
        if args.command == "postmortem":
            return print_postmortem(settings, args.incident)
        return doctor(settings)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    env_file = argparse.ArgumentParser(add_help=False)
    env_file.add_argument(
        "--env-file",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="read settings from this file as well as the environment (default: .env in this directory)",
    )
    main_parser = argparse.ArgumentParser(
        prog="incident-bot", description="FlowMason incident-response Slack bot.", parents=[env_file]
    )
    main_parser.add_argument("--version", action="version", version=f"incident-bot {version('flowmason-incident-bot')}")
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_parser = commands.add_parser(
        "run",
        parents=[env_file],
        help="run the bot (and its worker)",
        description="Run the bot: Socket Mode when SLACK_APP_TOKEN is set, otherwise HTTP on $PORT at "
        "/slack/events (Bolt's Flask adapter under gunicorn), and the worker beside it; one Ctrl-C stops both. "
        "Settings come from the environment and .env.",
    )
    run_parser.add_argument(
        "--without-worker",
        action="store_true",
        help="only the web process (or Socket Mode): the worker runs elsewhere (`incident-bot worker`)",
    )
    commands.add_parser(
        "worker",
        parents=[env_file],
        help="run the background worker",
        description="Run the RQ worker with its scheduler (escalations, expiries, charts, kill-switch "
        "executions) on the bot's Redis: REDIS_URL, or the embedded one in DATA_DIR.",
    )
    playbooks = commands.add_parser(
        "playbooks", help="check or show the runbook data", description="Check or show the YAML in playbooks/."
    )
    playbook_commands = playbooks.add_subparsers(dest="playbooks_command", required=True, metavar="ACTION")
    check = playbook_commands.add_parser(
        "check",
        parents=[env_file],
        help="validate a playbooks directory",
        description="Validate every file of a playbooks "
        "directory; each problem names its file and the path inside it. Exits 1 when any is invalid.",
    )
    check.add_argument(
        "directory", nargs="?", type=Path, help="default: PLAYBOOKS_DIR, else the playbooks bundled with the bot"
    )
    show = playbook_commands.add_parser(
        "show",
        parents=[env_file],
        help="print a playbook's steps",
        description="Print a playbook's phases and steps: KEY is a playbook key or number, or first-five.",
    )
    show.add_argument("key")
    show.add_argument("--directory", type=Path, help="default: PLAYBOOKS_DIR, else the bundled playbooks")
    audit = commands.add_parser(
        "audit",
        help="check an incident's audit trail",
        description="Audit trail commands (they read REDIS_URL or the embedded Redis in DATA_DIR; Slack is not "
        "needed).",
    )
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify",
        parents=[env_file],
        help="check the sealed chain and its head",
        description="Check an incident's audit trail: every entry's seal, their order, the signed head, and "
        "that every kill-switch request has its entries. Names the first entry missing, edited, inserted or "
        "reordered. With --all, every incident ever declared against the witness chain, which sealed each head "
        "their trails reached (a trail deleted whole shows there). Exits 0 when intact, 1 when not, 2 when there "
        "is no such incident.",
    )
    which = verify.add_mutually_exclusive_group(required=True)
    which.add_argument("incident", type=int, nargs="?", help="the incident number")
    which.add_argument("--all", action="store_true", help="every incident, against the witness chain")
    verify.add_argument(
        "--expect",
        type=expected_head,
        metavar="COUNT:HASH",
        help="the audit head a kill-switch card or the post-mortem showed (such as 7:3f9a1c0e): the trail must "
        "still hold those entries",
    )
    audit_commands.add_parser(
        "adopt",
        parents=[env_file],
        help="witness the trails written before the witness existed (once, when upgrading)",
        description="Upgrading to a version with the witness chain: each incident whose audit trail the witness "
        "never saw, and which verifies on its own, is sealed into the witness as it stands, so that `audit verify "
        "--all` checks it from now on. A trail that does not verify is named and left out. Exits 1 when any was.",
    )
    postmortem = commands.add_parser(
        "postmortem",
        parents=[env_file],
        help="print an incident's post-mortem draft",
        description="Write the post-mortem draft of an "
        "incident (Markdown, the runbook's eight sections) to standard output. Slack is not needed.",
    )
    postmortem.add_argument("incident", type=int, help="the incident number")
    commands.add_parser(
        "doctor",
        parents=[env_file],
        help="check the deployment",
        description="Check the deployment, in this order: the Slack token's scopes against manifest.yml; the "
        "Salesforce login (and FM_Config's record); the permissions the kill switches need; Redis persistence and "
        "eviction; a worker serving the bot's queues; the approver policy; the audit signing key; the pager "
        "settings' shape; the trackers, with a read each. Prints each check with a pass, a warning or a one-line "
        "fix; exits 1 when any fails. Nothing is changed or sent: no page, no issue.",
    )
    return main_parser


def expected_head(text: str) -> AuditHead:
    try:
        return AuditHead.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def playbooks_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.adapters.playbook_files import PlaybookDataError, load_runbook
    from bot.render.playbook_text import playbook_text, runbook_summary

    directory = args.directory or settings.playbooks_dir
    try:
        runbook = load_runbook(directory, STEP_SETTINGS)
    except PlaybookDataError as error:
        print(error, file=sys.stderr)
        return 1
    if args.playbooks_command == "check":
        print(runbook_summary(runbook))
        return 0
    found = runbook.first_five if args.key == "first-five" else runbook.playbook(args.key)
    if found is None:
        keys = ", ".join(["first-five", *(p.key for p in runbook.playbooks)])
        print(f"There is no playbook `{args.key}`; choose one of {keys}.", file=sys.stderr)
        return 2
    print(playbook_text(found))
    return 0


def run(settings: Settings, env_file: Path | None, with_worker: bool) -> int:
    settings.bot_token  # noqa: B018 (a missing token is named before anything else)
    if not settings.socket_mode and settings.slack_signing_secret is None:
        raise SettingsError(
            "Cannot start: SLACK_SIGNING_SECRET is missing, and HTTP mode (no SLACK_APP_TOKEN) needs it to "
            "verify Slack's requests (set it in .env or the environment)."
        )
    if with_worker:
        from bot.preflight import check_slack
        from bot.supervisor import run_together

        check_slack(settings)  # one sentence now, rather than one from each process
        given = ["--env-file", str(env_file.resolve())] if env_file is not None else []
        me = [sys.executable, "-m", "bot.cli", *given]
        return run_together({"web process": [*me, "run", "--without-worker"], "worker": [*me, "worker"]})
    if settings.socket_mode:
        from bot.socket_mode import serve

        return serve(settings)
    if env_file is not None:
        os.environ[ENV_FILE_VARIABLE] = str(env_file.resolve())
    gunicorn = [sys.executable, "-m", "gunicorn", "--config", "python:bot.gunicorn_config", "bot.web:create_wsgi_app()"]
    os.execv(sys.executable, gunicorn)  # noqa: S606 (a fixed command: the same server the Procfile starts)


def nothing_stored(settings: Settings) -> bool:
    """No REDIS_URL and no DATA_DIR here: the bot never ran with this folder, so there is nothing to read (and a
    read-only command does not make the folder)."""
    return settings.redis_url is None and not settings.data_dir.exists()


def verify_audit(settings: Settings, incident: int, expected: AuditHead | None) -> int:
    """0 when the trail is intact, 1 when something was removed, edited, inserted or reordered, 2 when there is
    no such incident."""
    from slack_sdk import WebClient

    from bot.app import build_services
    from bot.services.errors import UserError

    if nothing_stored(settings):
        print(f"There is no incident {incident}.", file=sys.stderr)
        return 2
    services = build_services(settings, WebClient())  # reads Redis only: no Slack call is made
    try:
        trail, problems = services.audit.check(incident, expected)
    except UserError as error:
        print(error, file=sys.stderr)
        return 2
    finally:
        services.close()
    for problem in problems:
        print(f"Broken: incident {incident}: {problem}.", file=sys.stderr)
    if problems:
        return 1
    if not trail.entries:
        print(f"OK: incident {incident} has no audit entries (no kill switch was requested).")
        return 0
    last = trail.entries[-1]
    print(
        f"OK: incident {incident} has {len(trail.entries)} audit entries sealed with {last.algorithm}; "
        f"head {len(trail.entries)}:{last.hash[:SHORT]} signed and intact."
    )
    return 0


def verify_all(settings: Settings) -> int:
    """0 when the witness chain and every incident's trail are intact and agree, 1 when not."""
    from slack_sdk import WebClient

    from bot.app import build_services

    if nothing_stored(settings):
        print("OK: 0 incidents, 0 audit entries (nothing is stored here yet).")
        return 0
    services = build_services(settings, WebClient())  # reads Redis only: no Slack call is made
    try:
        checked = services.audit.check_all()
    finally:
        services.close()
    for problem in checked.witness:
        print(f"Broken: the witness chain: {problem}.", file=sys.stderr)
    for number, problems in checked.incidents.items():
        for problem in problems:
            print(f"Broken: incident {number}: {problem}.", file=sys.stderr)
    if checked.witness or checked.incidents:
        return 1
    print(
        f"OK: {checked.checked} incidents, {checked.entries} audit entries, each trail intact and as the witness "
        "chain saw it."
    )
    return 0


def adopt_trails(settings: Settings) -> int:
    from slack_sdk import WebClient

    from bot.app import build_services

    if nothing_stored(settings):
        print("Nothing to adopt: nothing is stored here yet.")
        return 0
    services = build_services(settings, WebClient())  # reads and writes Redis only: no Slack call is made
    try:
        adopted, refused = services.audit.adopt()
    finally:
        services.close()
    for number, problems in refused.items():
        print(f"Left out: incident {number}: {problems[0]}.", file=sys.stderr)
    print(f"Witnessed {len(adopted)} incident trail(s) written before the witness existed.")
    return 1 if refused else 0


def print_postmortem(settings: Settings, incident: int) -> int:
    from slack_sdk import WebClient

    from bot.app import build_services
    from bot.presenters.lifecycle import plain_mention
    from bot.services.errors import UserError

    if nothing_stored(settings):
        print(f"There is no incident {incident}.", file=sys.stderr)
        return 2
    services = build_services(settings, WebClient())  # reads Redis only: no Slack call is made
    try:
        print(services.lifecycle.postmortem(incident, plain_mention), end="")
    except UserError as error:
        print(error, file=sys.stderr)
        return 2
    finally:
        services.close()
    return 0


def doctor(settings: Settings) -> int:
    from bot.doctor import run_checks

    failed = 0
    for check in run_checks(settings):
        failed += not check.ok
        print(f"{check.label}  {check.name}: {check.detail}")
    return 1 if failed else 0


def work(settings: Settings) -> int:
    from bot.preflight import check_slack
    from bot.worker import run_worker

    check_slack(settings)
    run_worker(settings)
    return 0


if __name__ == "__main__":  # `python -m bot.cli`: how `incident-bot run` starts its two processes
    raise SystemExit(main())
