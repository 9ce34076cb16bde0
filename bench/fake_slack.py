"""The fake Slack in a process of its own, so that a benchmark's load generator does not share its GIL.

`python -m bench.fake_slack PORT [LATENCY_SECONDS]` serves until killed.
"""

from __future__ import annotations

import sys
import time

from tests.fakes.slack import FakeSlack


def main() -> None:
    fake = FakeSlack(port=int(sys.argv[1]))
    fake.latency = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    fake.start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
