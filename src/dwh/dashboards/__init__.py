"""Dashboards defined once and rendered twice: Grafana provisioning and a static HTML report.

Each panel is declared once (:class:`Panel`: title, SQL against ``dds``/``marts``, chart type,
unit) in the module of its dashboard (``operational``, ``technical``, ``business``).
:mod:`dwh.dashboards.grafana` renders them as Grafana provisioning under ``dashboards/grafana/``
(``python -m dwh.dashboards`` regenerates it) and :func:`write_report` as one offline HTML file
(``dwh report``).
"""

from dwh.dashboards import business, operational, technical
from dwh.dashboards._model import (
    Chart,
    Dashboard,
    Panel,
    Unit,
    expand_like_grafana,
    expand_time_filter,
)
from dwh.dashboards.report import Report, write_report

#: The dashboards, in the order the report shows them.
DASHBOARDS: tuple[Dashboard, ...] = (
    operational.DASHBOARD,
    technical.DASHBOARD,
    business.DASHBOARD,
)

__all__ = [
    "DASHBOARDS",
    "Chart",
    "Dashboard",
    "Panel",
    "Report",
    "Unit",
    "expand_like_grafana",
    "expand_time_filter",
    "write_report",
]
