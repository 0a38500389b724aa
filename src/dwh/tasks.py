"""Task decorators shared by the Prefect flows in ``flows/``: one retry policy for all.

Frames and reports pass between tasks in memory; results are neither persisted nor cached
(the warehouse's layers are the durable state, and every step is safe to repeat). Steps that
talk to servers retry transient failures with exponential backoff and jitter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from dwh import etl

P = ParamSpec("P")
R = TypeVar("R")

RETRIES = 3


def step(function: Callable[P, R]) -> Task[P, R]:
    """A task that runs once per call, its result kept in memory only."""
    return task(cache_policy=NO_CACHE, persist_result=False)(function)


def retried(function: Callable[P, R]) -> Task[P, R]:
    """A :func:`step` retried on failure: 10 s, 20 s, 40 s apart, each ±50 %."""
    return task(
        cache_policy=NO_CACHE,
        persist_result=False,
        retries=RETRIES,
        retry_delay_seconds=exponential_backoff(backoff_factor=10),
        retry_jitter_factor=0.5,
    )(function)


#: Every flow first brings the ODS and ClickHouse schemas up to date.
migrate = step(etl.migrate)
