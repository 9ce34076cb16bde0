"""Renders the post-mortem draft with jinja2 from the template in `playbooks/` (StrictUndefined)."""

from __future__ import annotations

from collections.abc import Callable

from jinja2 import Environment, StrictUndefined, Template

from bot.core.postmortem import PostMortem


def canvas_mention(user_id: str) -> str:
    """A user mention as Slack canvases write it."""
    return f"![](@{user_id})"


def plain_mention(user_id: str) -> str:
    return f"@{user_id}"


def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell: one line, no column breaks."""
    return " ".join(str(text).split()).replace("|", "\\|")


def compile_template(source: str) -> Template:
    environment = Environment(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
    )
    environment.filters["cell"] = _cell
    return environment.from_string(source)


def render_postmortem(template: Template, postmortem: PostMortem, mention: Callable[[str], str]) -> str:
    def who(user: str | None) -> str:
        return mention(user) if user else "the bot"

    return template.render(pm=postmortem, who=who)
