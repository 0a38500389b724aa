"""The Prometheus HTTP API edge: one ``query_range`` call → a frame of raw samples.

Only this module talks HTTP; everything after it works on frames. Failures become errors a
person can act on: an unreachable or wrong URL names ``DWH_PROMETHEUS_URL``, a rejected
expression names the expression and ``DWH_PROMETHEUS_QUERIES``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import polars as pl

from dwh.errors import ConfigError, DwhError

#: Prometheus refuses a range query that would return more points per series than this.
MAX_POINTS_PER_SERIES = 11_000

#: The raw frame :func:`query_range` returns: one row per (series, evaluation time).
#: ``labels`` holds every label of the series, ``__name__`` included when the result has it.
RAW_SAMPLES_SCHEMA = pl.Schema(
    {
        "expr": pl.String(),
        "labels": pl.List(pl.Struct({"key": pl.String(), "value": pl.String()})),
        "ts": pl.Float64(),
        "value": pl.String(),
    }
)


class PrometheusQueryError(DwhError):
    """Prometheus answered, but rejected the expression."""


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def query_range(
    client: httpx.Client,
    url: str,
    expr: str,
    *,
    start: datetime,
    end: datetime,
    step_seconds: int,
) -> pl.DataFrame:
    """Evaluate ``expr`` at ``start``, ``start + step``, … ≤ ``end``; raw samples as a frame.

    Raises :class:`dwh.errors.ConfigError` (``DWH_PROMETHEUS_URL``) when Prometheus cannot be
    reached or does not answer like a Prometheus, :class:`PrometheusQueryError` when it rejects
    the expression.
    """
    try:
        response = client.get(
            f"{url}/api/v1/query_range",
            params={
                "query": expr,
                "start": f"{start.timestamp():.3f}",
                "end": f"{end.timestamp():.3f}",
                "step": f"{step_seconds}s",
            },
        )
    except httpx.HTTPError as exc:
        raise ConfigError(
            "DWH_PROMETHEUS_URL", f"cannot reach Prometheus at {url} ({_reason(exc)})"
        ) from None
    body = _json(response)
    if body is None or "status" not in body:
        raise ConfigError(
            "DWH_PROMETHEUS_URL",
            f"{url} answered HTTP {response.status_code} without a Prometheus API response; "
            "set it to the server's base URL (e.g. http://127.0.0.1:9090)",
        )
    if body["status"] != "success":
        raise PrometheusQueryError(
            f"Prometheus rejected {expr!r} (DWH_PROMETHEUS_QUERIES): "
            f"{body.get('errorType', 'error')}: {body.get('error', 'no reason given')}"
        )
    data = body.get("data") or {}
    if data.get("resultType") != "matrix":
        raise PrometheusQueryError(
            f"{expr!r} (DWH_PROMETHEUS_QUERIES) gives a {data.get('resultType')}, not a range "
            "vector: use an instant-vector expression"
        )
    return _samples(expr, data.get("result") or [])


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _samples(expr: str, result: list[dict[str, Any]]) -> pl.DataFrame:
    labels: list[list[dict[str, str]]] = []
    stamps: list[float] = []
    values: list[str] = []
    for series in result:
        series_labels = [{"key": k, "value": v} for k, v in (series.get("metric") or {}).items()]
        for stamp, value in series.get("values") or []:
            labels.append(series_labels)
            stamps.append(float(stamp))
            values.append(str(value))
    return pl.DataFrame(
        {"expr": [expr] * len(stamps), "labels": labels, "ts": stamps, "value": values},
        schema=RAW_SAMPLES_SCHEMA,
    )
