"""Reads the runbook data in `playbooks/` and checks it with the core's pydantic models."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

import playbooks
from bot.core.severity import SeverityMatrix

BUNDLED_PLAYBOOKS = Path(playbooks.__file__).parent

Model = TypeVar("Model", bound=BaseModel)


class PlaybookDataError(Exception):
    """A file in the playbooks directory is invalid; the message names the file and the path inside it."""


def load_model(path: Path, model: type[Model]) -> Model:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlaybookDataError(f"{path}: file not found") from None
    except yaml.YAMLError as error:
        raise PlaybookDataError(f"{path}: not valid YAML ({error})") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise PlaybookDataError(_describe(path, error)) from None


def _describe(path: Path, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]).lstrip(".")
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{path}: {where or '(top level)'}: {message}")
    return "\n".join(lines)


def load_severity_matrix(directory: Path) -> SeverityMatrix:
    return load_model(directory / "severity.yaml", SeverityMatrix)
