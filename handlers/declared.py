"""After a declaration, what the channel shows and what the bot finds on its own. The critical path first (the
header, then the checklist); then at once: the pin, the invitations, the answer to the declarer, the picker with
the probes' findings and the incidents seen before, and each early run's result. The use cases run here, the
presenters only show what they return."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from bot.core.incident import Incident
from bot.presenters.reply import Reply
from bot.services.evidence import ProbeRun
from bot.services.incidents import Declared
from bot.services.walkthrough_outcomes import EarlyRun

if TYPE_CHECKING:
    from bot.app import Services


def show_declared(services: Services, declared: Declared, reply: Reply) -> None:
    present = services.present
    opened = present.incidents.opened(declared, reply)
    if opened is None:
        return
    incident, header_ts = opened
    together(
        lambda: present.incidents.pin_header(incident, header_ts),
        lambda: present.incidents.invite(incident, declared.responders),
        lambda: present.incidents.announce(incident, reply),
        lambda: picker(services, incident, declared.probes),
        *(lambda run=run: early_run(services, incident, run, reply) for run in declared.early),
    )


def picker(services: Services, incident: Incident, probes: ProbeRun | None) -> None:
    """The picker, then what the probes measured (re-ordering it), then the incidents seen before."""
    services.present.walkthrough.post_picker(incident)
    if probes is not None:
        services.present.evidence.show(services.evidence.finish(probes))
    services.present.related.in_channel(incident, services.related.for_channel(incident))


def early_run(services: Services, incident: Incident, run: EarlyRun, reply: Reply) -> None:
    """A step the bot started on declare (confirm scope, the snapshots), settled and shown."""
    services.present.walkthrough.finished(services.walkthrough.finish_declare_run(incident, run), reply)


def together(*work: Callable[[], object]) -> None:
    """Runs independent calls at once and waits for all; the first failure is raised once all are done."""
    with ThreadPoolExecutor(max_workers=len(work), thread_name_prefix="declare") as pool:
        futures = [pool.submit(call) for call in work]
    for future in futures:
        future.result()
