"""Simulated Sorting Hat source data: ``dwh simulate`` appends a realistic history.

The history follows the platform's pipeline state machine, including what the platform
really produces (re-delivered duplicate stage rows, deliveries that stall, restarts after a
failure); invalid rows are written only on request, for quarantine tests.
"""

from dwh.simulate._events import build_events, history_events
from dwh.simulate._history import TABLES, History, generate_history
from dwh.simulate._lifecycle import MESSAGES, STAGE_NAMES, STATUSES
from dwh.simulate._writer import SOURCE_SQL, SimulationSummary, create_source_schema, simulate

__all__ = [
    "MESSAGES",
    "SOURCE_SQL",
    "STAGE_NAMES",
    "STATUSES",
    "TABLES",
    "History",
    "SimulationSummary",
    "build_events",
    "create_source_schema",
    "generate_history",
    "history_events",
    "simulate",
]
