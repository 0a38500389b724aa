"""The platform's pipeline state machine, run for many delivery attempts at once.

Times are float seconds relative to the end of the history (so ``t <= 0`` has happened and
``inf`` never happens). Each attempt is first simulated to its intended outcome; the state
at the end of the history is then read off by comparing every event time with zero. Values
that a re-delivered stage overwrites (``pipeline.started_at``, the performer assignment, the
cost) keep the latest occurrence that has happened by the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dwh.simulate._ids import F64, I64
from dwh.simulate._pools import Performers, Tariffs

STAGE_NAMES = (
    "start_pipeline",
    "estimate_cost",
    "assign_performer",
    "perform_delivery",
    "release_performer",
)
STATUSES = ("pending", "in_progress", "succeeded", "failed", "canceled")
PENDING, IN_PROGRESS, SUCCEEDED, FAILED, CANCELED = range(len(STATUSES))
START, ESTIMATE, ASSIGN, PERFORM, RELEASE = range(len(STAGE_NAMES))

MESSAGES = (
    "canceled by client",
    "cost estimation failed: no tariff available",
    "no idle performers near the source address",
    "There are physically no performers in the source zone",
    "performer did not confirm the delivery",
)
NO_MESSAGE = -1
_CANCELED_BY_CLIENT, _NO_TARIFF, _NO_IDLE, _NO_PERFORMERS, _NOT_CONFIRMED = range(len(MESSAGES))


@dataclass(frozen=True)
class _StageModel:
    run_median: float  # seconds
    run_sigma: float
    run_cap: float
    cancel_p: float = 0.0  # the platform allows a cancel only in the first two stages
    fail_p: float = 0.0
    fail_message: int = NO_MESSAGE
    duplicate_p: float = 0.0  # a consumer restart re-delivers the trigger


_MODELS = (
    _StageModel(0.4, 0.7, 60, cancel_p=0.01, duplicate_p=0.02),
    _StageModel(
        1.2, 0.8, 120, cancel_p=0.025, fail_p=0.004, fail_message=_NO_TARIFF, duplicate_p=0.02
    ),
    _StageModel(12.0, 1.2, 1_800, fail_p=0.06, fail_message=_NO_IDLE, duplicate_p=0.03),
    _StageModel(40 * 60.0, 0.6, 12 * 3_600, duplicate_p=0.06),
    _StageModel(0.3, 0.7, 60, duplicate_p=0.02),
)
_PERFORM_STALL_P = 0.22  # no external result is ever posted
_PERFORM_FAIL_P = 0.10  # scaled by the performer's own failure factor
_MAX_OCCURRENCES = 5  # at most five stage rows per (pipeline, name)


def lognormal(rng: np.random.Generator, median: float, sigma: float, n: int, cap: float) -> F64:
    """Positive durations with a long right tail, capped so no delay is absurd."""
    return np.minimum(rng.lognormal(np.log(median), sigma, n), cap)


@dataclass
class StageRows:
    """Stage rows as intended (before the end cut): one entry per occurrence."""

    pipeline: list[I64] = field(default_factory=list)
    name: list[I64] = field(default_factory=list)
    outcome: list[I64] = field(default_factory=list)
    message: list[I64] = field(default_factory=list)
    created: list[F64] = field(default_factory=list)
    started: list[F64] = field(default_factory=list)
    finished: list[F64] = field(default_factory=list)


@dataclass
class Attempts:
    """Per attempt: intended outcome and the pipeline/delivery values seen at the end."""

    outcome: I64  # SUCCEEDED/FAILED/CANCELED, or IN_PROGRESS when it never finishes
    message: I64
    final_at: F64  # when the outcome is (or would be) reached; inf if never
    started_at: F64  # NaN: NULL at the end
    finished_at: F64
    cost: F64
    estimated_at: F64
    performer: I64  # index into the performer pool, -1: NULL
    assigned_at: F64
    released_at: F64

    @classmethod
    def empty(cls, n: int) -> Attempts:
        """All attempts undecided, every value NULL."""

        def nan() -> F64:
            return np.full(n, np.nan)

        return cls(
            outcome=np.full(n, IN_PROGRESS, np.int64),
            message=np.full(n, NO_MESSAGE, np.int64),
            final_at=np.full(n, np.inf),
            started_at=nan(),
            finished_at=nan(),
            cost=nan(),
            estimated_at=nan(),
            performer=np.full(n, -1, np.int64),
            assigned_at=nan(),
            released_at=nan(),
        )


def run_attempts(
    rng: np.random.Generator,
    created: F64,
    distance: F64,
    performers: Performers,
    tariffs: Tariffs,
    rows: StageRows,
    first_pipeline: int,
    consumer_lag: float,
) -> Attempts:
    """Simulate attempts created at ``created``; append their stage rows to ``rows``.

    ``consumer_lag`` seconds before the end the trigger consumer stops (a restart in
    progress): triggers produced since then are consumed only after the end, which is why
    the newest pipelines are still pending.
    """
    res = Attempts.empty(len(created))
    active = np.arange(len(created))
    prev_finish = created.copy()
    load_factor = rng.uniform(0.5, 2.5, len(created))
    performer = np.full(len(created), -1, np.int64)  # intended: the last assignment
    for stage, model in enumerate(_MODELS):
        if active.size == 0:
            break
        outcome, message = _decide(rng, stage, model, performers, performer[active])
        extra = np.minimum(rng.geometric(0.55, active.size), _MAX_OCCURRENCES - 1)
        can_repeat = (outcome == SUCCEEDED) | (stage == PERFORM)
        extra = np.where(can_repeat & (rng.random(active.size) < model.duplicate_p), extra, 0)
        occurrences = 1 + extra
        created_at = _consume(
            prev_finish[active] + lognormal(rng, 0.3, 1.0, active.size, 600), consumer_lag
        )
        last_finish = np.full(active.size, np.inf)
        for j in range(int(occurrences.max())):
            sel = np.flatnonzero(occurrences > j)
            ids = active[sel]
            is_last = occurrences[sel] == j + 1
            started = created_at[sel] + lognormal(rng, 0.05, 1.0, sel.size, 120)
            run = lognormal(rng, model.run_median, model.run_sigma, sel.size, model.run_cap)
            if stage == PERFORM:
                speed = performers.speed[performer[ids]]
                # Failures surface part-way; only the newest row of a re-delivered
                # perform_delivery gets the external result, older rows wait forever.
                run = np.where(outcome[sel] == FAILED, run * rng.random(sel.size), run * speed)
                gets_result = is_last & (outcome[sel] != IN_PROGRESS)
                finished = np.where(gets_result, started + run, np.inf)
            else:
                finished = started + run
            _record(
                rows,
                first_pipeline + ids,
                stage,
                outcome[sel],
                message[sel],
                created_at[sel],
                started,
                finished,
            )
            if stage != PERFORM:  # perform_delivery itself sets nothing on the delivery
                effect = started + rng.random(sel.size) * (finished - started)
                done = (outcome[sel] == SUCCEEDED) & (effect <= 0)
                _apply_effect(
                    res,
                    stage,
                    ids[done],
                    effect[done],
                    finished[done],
                    tariffs,
                    distance,
                    load_factor,
                )
            if stage == ASSIGN:
                # Every run picks a performer; the last run's pick is the one that delivers.
                picks = rng.choice(len(performers.weights), sel.size, p=performers.weights)
                performer[ids] = picks
                res.performer[ids[done]] = picks[done]
            # Re-delivery after a restart: quick stages were processed before the crash,
            # perform_delivery had only started waiting.
            again = ~is_last
            after = started if stage == PERFORM else finished
            redelivered = after[again] + lognormal(rng, 20, 1.0, int(again.sum()), 900)
            created_at[sel[again]] = _consume(redelivered, consumer_lag)
            last_finish[sel[is_last]] = finished[is_last]
        _conclude(res, stage, active, outcome, message, last_finish)
        moves_on = outcome == SUCCEEDED
        prev_finish[active[moves_on]] = last_finish[moves_on]
        active = active[moves_on]
    return res


def _consume(produced: F64, consumer_lag: float) -> F64:
    """When a trigger produced at ``produced`` creates its stage row, given the outage."""
    stalled = (produced > -consumer_lag) & (produced <= 0)
    return np.where(stalled, produced + consumer_lag, produced)


def _decide(
    rng: np.random.Generator,
    stage: int,
    model: _StageModel,
    performers: Performers,
    performer: I64,
) -> tuple[I64, I64]:
    n = performer.size
    u = rng.random(n)
    outcome = np.full(n, SUCCEEDED, np.int64)
    message = np.full(n, NO_MESSAGE, np.int64)
    if stage == PERFORM:
        fail_p = np.minimum(_PERFORM_FAIL_P * performers.failure[performer], 0.8)
        stalled = u < _PERFORM_STALL_P
        failed = ~stalled & (u < _PERFORM_STALL_P + fail_p)
        outcome[stalled] = IN_PROGRESS
        outcome[failed] = FAILED
        rare = rng.random(n) < 0.15
        message[failed] = np.where(rare[failed], _NOT_CONFIRMED, _NO_PERFORMERS)
        return outcome, message
    canceled = u < model.cancel_p
    failed = ~canceled & (u < model.cancel_p + model.fail_p)
    outcome[canceled] = CANCELED
    message[canceled] = _CANCELED_BY_CLIENT
    outcome[failed] = FAILED
    message[failed] = model.fail_message
    return outcome, message


def _record(
    rows: StageRows,
    pipeline: I64,
    stage: int,
    outcome: I64,
    message: I64,
    created: F64,
    started: F64,
    finished: F64,
) -> None:
    rows.pipeline.append(pipeline)
    rows.name.append(np.full(pipeline.size, stage, np.int64))
    rows.outcome.append(outcome)
    rows.message.append(message)
    rows.created.append(created)
    rows.started.append(started)
    rows.finished.append(finished)


def _apply_effect(
    res: Attempts,
    stage: int,
    ids: I64,
    effect: F64,
    finished: F64,
    tariffs: Tariffs,
    distance: F64,
    load_factor: F64,
) -> None:
    """Write what a successful run sets; later occurrences overwrite earlier ones."""
    if stage == START:
        res.started_at[ids] = effect
    elif stage == ESTIMATE:
        min_cost, per_meter = tariffs.in_force(effect)
        raw = distance[ids] * per_meter * load_factor[ids]
        res.cost[ids] = np.round(np.maximum(min_cost, raw), 2)
        res.estimated_at[ids] = effect
    elif stage == ASSIGN:
        res.assigned_at[ids] = effect
    elif stage == RELEASE:
        res.released_at[ids] = effect
        seen = finished <= 0
        res.finished_at[ids[seen]] = finished[seen]


def _conclude(
    res: Attempts, stage: int, active: I64, outcome: I64, message: I64, last_finish: F64
) -> None:
    """Record how the attempts that reached ``stage`` end, if they end there."""
    ends = (outcome != SUCCEEDED) | (stage == RELEASE)
    ids = active[ends]
    res.outcome[ids] = outcome[ends]
    res.message[ids] = message[ends]
    res.final_at[ids] = last_finish[ends]
    failed_seen = (outcome != SUCCEEDED) & (last_finish <= 0)
    res.finished_at[active[failed_seen]] = last_finish[failed_seen]
