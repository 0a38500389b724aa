"""MARTS layer (ClickHouse database ``marts``): aggregates for dashboards, computed from the DDS.

Each mart's SELECT lives in the module named after it; :func:`refresh_marts` recomputes them.
"""

from dwh.marts._mart import Mart
from dwh.marts._stats import percentile_disc
from dwh.marts.refresh import MARTS, Plan, refresh_marts, refresh_plan, refresh_planned

__all__ = [
    "MARTS",
    "Mart",
    "Plan",
    "percentile_disc",
    "refresh_marts",
    "refresh_plan",
    "refresh_planned",
]
