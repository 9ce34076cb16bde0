"""Reads the runbook data in `playbooks/` and checks it with the models of `bot/core`, `bot/kinds` and
`bot/mechanisms`.

Every problem names its file and the path inside it, e.g.
`playbooks/playbook-4-prompt-injection.yaml: phases[1].steps[0].switch: no kill switch `lockout` …`, and a file
the bot would not read (`playbok-8.yaml`) is a problem too, so nothing an operator writes is silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from pydantic import BaseModel, ValidationError

from bot.config import BUNDLED_PLAYBOOKS
from bot.core.playbook import Checklist, Playbook, StepBase, located_steps
from bot.core.postmortem import compile_template, render_postmortem, specimen
from bot.core.severity import SeverityMatrix
from bot.kinds import KINDS, Step
from bot.kinds.link import LinkStep
from bot.kinds.query import QueryStep
from bot.mechanisms import MECHANISMS, KillSwitchCatalogue
from bot.runbook import Runbook

__all__ = ["BUNDLED_PLAYBOOKS", "PlaybookDataError", "load_runbook"]

SEVERITY_FILE = "severity.yaml"
FIRST_FIVE_FILE = "first-five-minutes.yaml"
SWITCHES_FILE = "kill-switches.yaml"
PLAYBOOK_GLOB = "playbook-*.yaml"
POSTMORTEM_FILE = "postmortem.md.j2"
PACKAGE_FILES = {"__init__.py", "__pycache__"}
TAGS = set(KINDS) | set(MECHANISMS)  # discriminator values pydantic puts in an error's location

Model = TypeVar("Model", bound=BaseModel)


class PlaybookDataError(Exception):
    """The playbooks directory is invalid; the message has one line per problem, naming file and path."""


def _where(loc: Iterable[Any]) -> str:
    """`phases[0].steps[1].soql` from pydantic's location, without the kind tags it inserts (a probe's field
    `query` followed by its tag `query` keeps the field)."""
    items = list(loc)
    parts = [
        p
        for i, p in enumerate(items)
        if not (isinstance(p, str) and p in TAGS and (i + 1 >= len(items) or items[i + 1] != p))
    ]
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


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
            items = error.errors()
            deeper = [tuple(item["loc"]) for item in items]
            for item in items:
                loc = tuple(item["loc"])
                if item["type"] == "too_short" and any(d[: len(loc)] == loc and d != loc for d in deeper):
                    continue  # a list whose only item was refused: the refusal says it
                where = _where(item["loc"])
                message = str(item["msg"]).removeprefix("Value error, ")
                self.lines.append(f"{path}: {where}: {message}" if where else f"{path}: {message}")
            return None


def load_runbook(directory: Path, setting_names: Iterable[str] = ()) -> Runbook:
    """Loads and cross-checks every file; `setting_names` are the settings a playbook may name (STEP_SETTINGS)."""
    if not directory.is_dir():
        raise PlaybookDataError(
            f"{directory}: not a directory of playbooks (it holds severity.yaml, first-five-minutes.yaml, "
            "kill-switches.yaml and playbook-*.yaml)"
        )
    problems = _Problems()
    matrix = problems.load(directory / SEVERITY_FILE, SeverityMatrix)
    first_five = problems.load(directory / FIRST_FIVE_FILE, Checklist[Step])
    switches = problems.load(directory / SWITCHES_FILE, KillSwitchCatalogue)
    loaded: list[tuple[Path, Playbook[Step]]] = []
    paths = sorted(directory.glob(PLAYBOOK_GLOB))
    if not paths:
        problems.lines.append(f"{directory}: no {PLAYBOOK_GLOB} files")
    known = {SEVERITY_FILE, FIRST_FIVE_FILE, SWITCHES_FILE, POSTMORTEM_FILE, *PACKAGE_FILES, *(p.name for p in paths)}
    for stray in sorted(p for p in directory.iterdir() if p.name not in known and not p.name.startswith(".")):
        problems.lines.append(
            f"{stray}: not a file the bot reads (playbooks are named {PLAYBOOK_GLOB}; the others are "
            f"{SEVERITY_FILE}, {FIRST_FIVE_FILE}, {SWITCHES_FILE}, {POSTMORTEM_FILE})"
        )
    for path in paths:
        playbook = problems.load(path, Playbook[Step])
        if playbook is not None:
            loaded.append((path, playbook))
    for attribute in ("key", "number"):
        seen: dict[object, Path] = {}
        for path, playbook in loaded:
            value = getattr(playbook, attribute)
            if value in seen:
                problems.lines.append(f"{path}: {attribute}: `{value}` is also used by {seen[value].name}")
            seen[value] = path
    documents: list[tuple[Path, str, tuple[StepBase, ...]]] = []
    if first_five:
        documents.append((directory / FIRST_FIVE_FILE, "steps", first_five.steps))
    for path, playbook in loaded:
        documents += [(path, f"phases[{i}].steps", phase.steps) for i, phase in enumerate(playbook.phases)]
    for path, prefix, steps in documents:
        for where, step in located_steps(steps, prefix):
            problems.lines += [f"{path}: {where}.{problem}" for problem in _cross_check(step, switches, setting_names)]
    problems.lines += _probe_ids(directory, first_five, loaded, matrix, setting_names)
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


def _cross_check(step: StepBase, switches: KillSwitchCatalogue | None, setting_names: Iterable[str]) -> list[str]:
    """What a step names in another file or in the settings, and is not there."""
    for attribute in ("switch", "not_while"):
        named = getattr(step, attribute, None)
        if named and switches and switches.get(named) is None:
            known = ", ".join(sorted(s.key for s in (*switches.switches, *switches.changes)))
            return [f"{attribute}: no kill switch `{named}` in {SWITCHES_FILE} (known: {known})"]
    if isinstance(step, LinkStep) and step.url_setting not in set(setting_names):
        return [f"url_setting: `{step.url_setting}` is not a setting"]
    if isinstance(step, QueryStep) and step.pattern_filter and step.pattern_filter.setting not in set(setting_names):
        return [f"pattern_filter.setting: `{step.pattern_filter.setting}` is not a setting"]
    return []


def _probe_ids(
    directory: Path,
    first_five: Checklist[Step] | None,
    loaded: list[tuple[Path, Playbook[Step]]],
    matrix: SeverityMatrix | None,
    setting_names: Iterable[str],
) -> list[str]:
    """Probe ids are unique across the runbook (findings are kept by id), the matrix names only probes that are
    there, and a probe's query names only settings that exist."""
    documents = [(directory / FIRST_FIVE_FILE, first_five.probes if first_five else ())]
    documents += [(path, playbook.probes) for path, playbook in loaded]
    seen: dict[str, Path] = {}
    lines = []
    for path, probes in documents:
        for index, probe in enumerate(probes):
            if probe.id in seen:
                lines.append(f"{path}: probes[{index}].id: `{probe.id}` is also a probe of {seen[probe.id].name}")
            lines += [f"{path}: probes[{index}].query.{p}" for p in _cross_check(probe.query, None, setting_names)]
            seen[probe.id] = path
    for name in sorted(matrix.probes() if matrix else ()):
        if name not in seen:
            known = ", ".join(sorted(seen))
            lines.append(f"{directory / SEVERITY_FILE}: measured_when: no probe `{name}` (known: {known})")
    return lines


def _template(path: Path, problems: _Problems) -> str | None:
    """The post-mortem template's source, once jinja2 has compiled it and rendered a specimen draft with it."""
    try:
        source = path.read_text(encoding="utf-8")
        render_postmortem(compile_template(source), specimen(), str)
    except FileNotFoundError:
        problems.lines.append(f"{path}: file not found")
        return None
    except TemplateSyntaxError as error:
        problems.lines.append(f"{path}: line {error.lineno}: {error.message}")
        return None
    except SecurityError as error:
        problems.lines.append(f"{path}: the sandbox refuses it: {error}")
        return None
    except TemplateError as error:
        problems.lines.append(f"{path}: {error} (the draft has no such name)")
        return None
    return source
