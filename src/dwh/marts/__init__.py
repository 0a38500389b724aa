"""MARTS layer (ClickHouse database ``marts``): aggregates for dashboards, computed from the DDS.

Each mart's SELECT lives in the module named after it; :func:`refresh_marts` recomputes them.
"""

from dwh.marts._mart import Mart
from dwh.marts._stats import percentile_disc
from dwh.marts.refresh import MARTS, refresh_marts

__all__ = ["MARTS", "Mart", "percentile_disc", "refresh_marts"]
