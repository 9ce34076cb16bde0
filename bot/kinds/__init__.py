"""The step kinds, one module each (see `base`): every module here that defines KIND is one. `Step` is any of
their models, told apart by `kind` in the YAML."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from bot.core.playbook import StepBase
from bot.kinds.base import Kind
from bot.plugins import complete_models, discover

KINDS: dict[str, Kind] = {kind.name: kind for kind in discover(sys.modules[__name__], "KIND")}

if TYPE_CHECKING:
    Step = StepBase
else:
    Step = Annotated[Union[tuple(kind.model for kind in KINDS.values())], Field(discriminator="kind")]  # noqa: UP007

complete_models(sys.modules[__name__], {"Step": Step})  # a decision's choices hold steps of any kind


def kind_of(step: StepBase) -> Kind:
    return KINDS[step.kind]
