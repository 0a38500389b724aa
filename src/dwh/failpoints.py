"""Named points where a run can be made to die on purpose, to prove it is crash-safe.

``DWH_FAILPOINT=<name>`` makes the process kill itself with SIGKILL — no cleanup, no exception
handlers, like a power cut — when it reaches that point; ``<name>@<n>`` the ``n``-th time it
does (a point inside a loop: a later slice of a first load). Unset (always, outside the crash
tests), a failpoint is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

POINTS = (
    "extracted",  # after reading the replica, before the ODS transaction
    "ods.loading",  # inside the ODS transaction, after a COPY, before the upserts or indexes
    "ods.committed",  # after the ODS commit, before anything reaches ClickHouse
    "dds.inserting",  # after the first Arrow batch of the facts was inserted
    "marts.refreshing",  # after the hourly tables, between two marts
    "dds.loaded",  # after ClickHouse has everything, before the watermark is committed
)


_reached: Counter[str] = Counter()


def failpoint(name: str) -> None:
    """Die here with SIGKILL if ``DWH_FAILPOINT`` names this point (and this passage)."""
    wanted = os.environ.get("DWH_FAILPOINT")
    if wanted is None or not wanted.startswith(name):
        return
    _reached[name] += 1
    if wanted in (name, f"{name}@{_reached[name]}"):
        os.kill(os.getpid(), signal.SIGKILL)
