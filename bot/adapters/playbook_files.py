"""Reads the runbook data in `playbooks/` and checks it with the core's pydantic models.

Every problem names its file and the path inside it, e.g.
`playbooks/playbook-4-prompt-injection.yaml: phases[1].steps[0].switch: no kill switch `lockout` …`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import yaml
from jinja2 import TemplateSyntaxError
from pydantic import BaseModel, ValidationError

import playbooks
from bot.core.playbook import Checklist, KillSwitchCatalogue, Playbook, Step, StepKind, located_steps
from bot.core.runbook import Runbook
from bot.core.severity import SeverityMatrix
from bot.render.postmortem import compile_template

BUNDLED_PLAYBOOKS = Path(playbooks.__file__).parent
SEVERITY_FILE = "severity.yaml"
FIRST_FIVE_FILE = "first-five-minutes.yaml"
SWITCHES_FILE = "kill-switches.yaml"
PLAYBOOK_GLOB = "playbook-*.yaml"
POSTMORTEM_FILE = "postmortem.md.j2"

Model = TypeVar("Model", bound=BaseModel)


class PlaybookDataError(Exception):
    """The playbooks directory is invalid; the message has one line per problem, naming file and path."""


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def load(self, path: Path, model: type[Model]) -> Model | None:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.lines.append(f"{path}: file not found")
            return None
        except yaml.YAMLError as error:
            self.lines.append(f"{path}: not valid YAML ({' '.join(str(error).split())})")
            return None
        try:
            return model.model_validate(data)
        except ValidationError as error:
            for item in error.errors():
                where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"]).lstrip(".")
                message = str(item["msg"]).removeprefix("Value error, ")
                self.lines.append(f"{path}: {where}: {message}" if where else f"{path}: {message}")
            return None


def load_severity_matrix(directory: Path) -> SeverityMatrix:
    problems = _Problems()
    matrix = problems.load(directory / SEVERITY_FILE, SeverityMatrix)
    if matrix is None:
        raise PlaybookDataError("\n".join(problems.lines))
    return matrix


def load_runbook(directory: Path, url_settings: Iterable[str] = ()) -> Runbook:
    """Loads and cross-checks every file; `url_settings` are the setting names a link step may use."""
    problems = _Problems()
    matrix = problems.load(directory / SEVERITY_FILE, SeverityMatrix)
    first_five = problems.load(directory / FIRST_FIVE_FILE, Checklist)
    switches = problems.load(directory / SWITCHES_FILE, KillSwitchCatalogue)
    loaded: list[tuple[Path, Playbook]] = []
    paths = sorted(directory.glob(PLAYBOOK_GLOB))
    if not paths:
        problems.lines.append(f"{directory}: no {PLAYBOOK_GLOB} files")
    for path in paths:
        playbook = problems.load(path, Playbook)
        if playbook is not None:
            loaded.append((path, playbook))
    for attribute in ("key", "number"):
        seen: dict[object, Path] = {}
        for path, playbook in loaded:
            value = getattr(playbook, attribute)
            if value in seen:
                problems.lines.append(f"{path}: {attribute}: `{value}` is also used by {seen[value].name}")
            seen[value] = path
    switch_keys = {s.key for s in switches.switches} if switches else set()
    documents: list[tuple[Path, str, tuple[Step, ...]]] = []
    if first_five:
        documents.append((directory / FIRST_FIVE_FILE, "steps", first_five.steps))
    for path, playbook in loaded:
        documents += [(path, f"phases[{i}].steps", phase.steps) for i, phase in enumerate(playbook.phases)]
    for path, prefix, steps in documents:
        for where, step in located_steps(steps, prefix):
            if step.kind is StepKind.KILL_SWITCH and step.switch and switches and step.switch not in switch_keys:
                problems.lines.append(
                    f"{path}: {where}.switch: no kill switch `{step.switch}` in {SWITCHES_FILE} "
                    f"(known: {', '.join(sorted(switch_keys))})"
                )
            if step.url_setting and step.url_setting not in set(url_settings):
                problems.lines.append(f"{path}: {where}.url_setting: `{step.url_setting}` is not a setting")
    template = _template(directory / POSTMORTEM_FILE, problems)
    if problems.lines or matrix is None or first_five is None or switches is None or template is None:
        raise PlaybookDataError("\n".join(problems.lines))
    return Runbook(
        severities=matrix,
        first_five=first_five,
        playbooks=tuple(sorted((p for _, p in loaded), key=lambda p: p.number)),
        switches=switches,
        postmortem_template=template,
    )


def _template(path: Path, problems: _Problems) -> str | None:
    """The post-mortem template's source, once jinja2 has compiled it."""
    try:
        source = path.read_text(encoding="utf-8")
        compile_template(source)
    except FileNotFoundError:
        problems.lines.append(f"{path}: file not found")
        return None
    except TemplateSyntaxError as error:
        problems.lines.append(f"{path}: line {error.lineno}: {error.message}")
        return None
    return source
