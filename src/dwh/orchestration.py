"""Running the warehouse's jobs from the CLI: through Prefect when an API is configured.

Prefect's ephemeral API server takes many seconds to start, so without ``PREFECT_API_URL`` the CLI
calls the same library steps directly; with it, the run goes through the ``etl`` flow in
``flows/etl.py`` and shows up in the Prefect UI like a deployment run.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

from dwh.config import get_settings
from dwh.engines.embedded import start_embedded
from dwh.etl import EtlReport, Progress, migrate, run_etl

FLOWS_DIR = Path(__file__).resolve().parents[2] / "flows"


def load_flows_module(name: str) -> ModuleType:
    """Import ``flows/<name>.py`` (the flows live beside the package, as Prefect expects)."""
    spec = importlib.util.spec_from_file_location(f"dwh_flows_{name}", FLOWS_DIR / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no flow module {name!r} in {FLOWS_DIR}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_etl_job(progress: Progress | None = None, *, full_refresh: bool = False) -> EtlReport:
    """Run the ETL once, through Prefect if ``PREFECT_API_URL`` is set, else directly."""
    if os.environ.get("PREFECT_API_URL"):
        report: EtlReport = load_flows_module("etl").etl(full_refresh=full_refresh)
        return report
    settings = get_settings()
    dsns = start_embedded(settings)
    migrate(dsns)
    return run_etl(settings, dsns, progress, full_refresh=full_refresh)
