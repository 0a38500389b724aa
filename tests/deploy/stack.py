"""Helpers shared by the production-stack tests: the repository's files and child environments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from dwh.engines.embedded import Dsns

REPO = Path(__file__).resolve().parents[2]


def load_yaml(path: Path) -> Any:
    """Parse one YAML file of the repository."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def dwh_environment(dsns: Dsns, home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without DWH_/PREFECT_ settings, plus ``dsns``' settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DWH_", "PREFECT_"))}
    env.update(
        DWH_HOME=str(home),
        DWH_SOURCE_DSN=dsns.source,
        DWH_REPLICA_DSN=dsns.replica,
        DWH_ODS_DSN=dsns.ods,
        DWH_CLICKHOUSE_DSN=dsns.clickhouse,
    )
    env.update(extra)
    return env
