"""``python -m dwh.dashboards [--check]``: regenerate (or check) the Grafana provisioning."""

from __future__ import annotations

import sys

from dwh.dashboards import DASHBOARDS
from dwh.dashboards.grafana import DEFAULT_ROOT, stale, write


def main(argv: list[str]) -> int:
    """Write the provisioning files; with ``--check``, only report the stale ones (exit 1)."""
    if "--check" in argv:
        behind = stale(DASHBOARDS)
        for relative in behind:
            print(f"stale: {DEFAULT_ROOT / relative}")
        return 1 if behind else 0
    for path in write(DASHBOARDS):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
