"""The `incident-bot` command as installed: `bot.cli`, imported here, so that a Ctrl-C while it starts (importing,
reading its settings, checking Slack) ends it quietly with the shell's 130, not with Python's traceback."""

from __future__ import annotations

INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command that Ctrl-C stopped


def main() -> int:
    try:
        from bot.cli import main as command

        return command()
    except KeyboardInterrupt:
        return INTERRUPTED
