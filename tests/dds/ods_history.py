"""Small but realistic ODS histories for tests: the Sorting Hat state machine, with its quirks.

Each order has 1..3 pipelines; every pipeline but the last ended ``failed`` or ``canceled``
(a restart), the last may be anywhere in its life. Stage rows are duplicated the way a
restarted Kafka consumer duplicates them (up to five ``perform_delivery`` rows), and a re-run
overwrites ``pipeline.started_at`` and the delivery's performer assignment. NULLs are where
the state machine leaves them. Some orders are hard-deleted in the source (``_deleted_at``
cascades to their children). ``configs`` is a tariff history; ``performers`` is derived from
every assignment seen, overwritten ones included, as the ODS does.

:func:`simulate_history` draws from a :class:`random.Random`; :func:`ods_histories` wraps it in
a hypothesis strategy (``st.randoms(use_true_random=False)`` keeps the draws shrinkable).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
from hypothesis import strategies as st

STAGES = (
    "start_pipeline",
    "estimate_cost",
    "assign_performer",
    "perform_delivery",
    "release_performer",
)
NO_PERFORMERS = "There are physically no performers in the source zone"
NO_IDLE = "no idle performers available"

UTC_US = pl.Datetime("us", "UTC")
ODS_SCHEMAS: dict[str, dict[str, Any]] = {
    "orders": {
        "id": pl.String,
        "source_address_id": pl.String,
        "target_address_id": pl.String,
        "extra": pl.String,
        "registered_at": UTC_US,
    },
    "pipelines": {
        "id": pl.String,
        "order_id": pl.String,
        "status": pl.String,
        "message": pl.String,
        "created_at": UTC_US,
        "started_at": UTC_US,
        "finished_at": UTC_US,
    },
    "stages": {
        "id": pl.String,
        "pipeline_id": pl.String,
        "name": pl.String,
        "status": pl.String,
        "message": pl.String,
        "created_at": UTC_US,
        "started_at": UTC_US,
        "finished_at": UTC_US,
    },
    "deliveries": {
        "pipeline_id": pl.String,
        "cost": pl.Decimal(12, 2),
        "estimated_at": UTC_US,
        "performer_id": pl.String,
        "assigned_at": UTC_US,
        "released_at": UTC_US,
    },
    "configs": {
        "id": pl.String,
        "min_cost": pl.Float64,
        "rubles_per_meter": pl.Float64,
        "fetched_at": UTC_US,
    },
    "performers": {
        "performer_id": pl.String,
        "first_seen_at": UTC_US,
        "last_seen_at": UTC_US,
        "deliveries_count": pl.UInt32,
    },
}
for _columns in ODS_SCHEMAS.values():
    _columns.update({"_deleted_at": UTC_US, "_loaded_at": UTC_US})


@dataclass
class _Sim:
    rng: random.Random
    loaded_at: datetime
    performers: list[str]
    rows: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in ODS_SCHEMAS}
    )
    assignments: list[tuple[str, datetime]] = field(default_factory=list)
    issued: int = 0

    def uuid(self) -> str:
        # Random high bits, a counter in the low bits: unique even when hypothesis shrinks
        # every draw to zero.
        self.issued += 1
        return str(uuid.UUID(int=(self.rng.getrandbits(96) << 32) | self.issued, version=4))

    def later(self, at: datetime, max_seconds: float = 600.0) -> datetime:
        # Microsecond steps, like PostgreSQL timestamptz.
        return at + timedelta(microseconds=self.rng.randint(1, int(max_seconds * 1_000_000)))

    def add(self, table: str, deleted_at: datetime | None, **row: Any) -> None:
        self.rows[table].append({**row, "_deleted_at": deleted_at, "_loaded_at": self.loaded_at})

    def stage(
        self,
        pipeline_id: str,
        name: str,
        at: datetime,
        status: str,
        deleted_at: datetime | None,
        message: str | None = None,
    ) -> datetime:
        """Add a stage row; return when it finished (or last touched)."""
        started = self.later(at, 5) if status != "pending" else None
        final = status in ("succeeded", "failed", "canceled")
        # perform_delivery waits for the external result: minutes to hours.
        longest = 4 * 3_600 if name == "perform_delivery" else 120
        finished = self.later(started, longest) if final and started else None
        self.add(
            "stages",
            deleted_at,
            id=self.uuid(),
            pipeline_id=pipeline_id,
            name=name,
            status=status,
            message=message,
            created_at=at,
            started_at=started,
            finished_at=finished,
        )
        return finished or started or at


def _outcome(sim: _Sim, is_last: bool) -> tuple[str, int]:
    """(final pipeline status, index of the stage where it stops)."""
    rng = sim.rng
    if not is_last or rng.random() < 0.25:
        if rng.random() < 0.4:
            return "canceled", rng.randint(0, 1)  # cancel only during start/estimate
        return "failed", rng.choice((0, 1, 2, 2, 3, 3, 3))
    return rng.choice(
        (
            ("succeeded", 4),
            ("succeeded", 4),
            ("succeeded", 4),
            ("in_progress", 3),
            ("in_progress", 3),
            ("in_progress", 1),
            ("pending", -1),
        )
    )


def _pipeline(
    sim: _Sim,
    order_id: str,
    at: datetime,
    is_last: bool,
    deleted_at: datetime | None,
    tariff: tuple[float, float],
) -> datetime:
    """Simulate one pipeline from ``at``; return when it ended (or was last touched)."""
    rng = sim.rng
    status, stop = _outcome(sim, is_last)
    pipeline_id = sim.uuid()
    pipeline: dict[str, Any] = {"id": pipeline_id, "order_id": order_id, "created_at": at}
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    delivery: dict[str, Any] | None = None
    t = at
    for index, name in enumerate(STAGES):
        if stop < 0 or index > stop:
            break
        ends_here = index == stop
        if ends_here and status in ("failed", "canceled"):
            stage_status = status
            message = {
                "estimate_cost": "cost service unavailable",
                "assign_performer": NO_IDLE,
                "perform_delivery": NO_PERFORMERS,
            }.get(name, "canceled by client" if status == "canceled" else "internal error")
        elif ends_here and status == "in_progress":
            stage_status = rng.choice(("pending", "in_progress"))
        else:
            stage_status = "succeeded"
        stage_message = message if stage_status in ("failed", "canceled") else None
        t = sim.stage(pipeline_id, name, sim.later(t, 30), stage_status, deleted_at, stage_message)
        if name == "start_pipeline" and (stage_status == "succeeded" or rng.random() < 0.5):
            started_at = t
            delivery = {"pipeline_id": pipeline_id, "cost": None, "estimated_at": None}
            delivery |= {"performer_id": None, "assigned_at": None, "released_at": None}
        if delivery is not None and stage_status == "succeeded":
            if name == "estimate_cost":
                min_cost, per_meter = tariff
                distance = 1 + int(74_999 * rng.random() ** 2)  # most trips are short
                raw = max(min_cost, distance * per_meter * rng.uniform(0.5, 2.5))
                delivery["cost"] = Decimal(repr(raw)).quantize(Decimal("0.01"), ROUND_HALF_UP)
                delivery["estimated_at"] = t
            elif name == "assign_performer":
                delivery["performer_id"] = rng.choice(sim.performers)
                delivery["assigned_at"] = t
                sim.assignments.append((delivery["performer_id"], t))
            elif name == "release_performer":
                delivery["released_at"] = t
        # A restarted consumer re-delivers the trigger: duplicate rows; a re-run rewrites
        # started_at or the performer assignment, possibly after later stages ran.
        duplicates = rng.choice((0, 0, 0, 1, 2, 4 if name == "perform_delivery" else 1))
        for _ in range(duplicates):
            dup_at = at if rng.random() < 0.1 else sim.later(at, 3_600)  # ties happen too
            dup_end = sim.stage(
                pipeline_id, name, dup_at, rng.choice(("pending", "succeeded")), deleted_at
            )
            if name == "start_pipeline" and started_at is not None and rng.random() < 0.5:
                started_at = dup_end
            if (
                name == "assign_performer"
                and delivery
                and delivery["performer_id"]
                and rng.random() < 0.5
            ):
                delivery["performer_id"] = rng.choice(sim.performers)
                delivery["assigned_at"] = dup_end
                sim.assignments.append((delivery["performer_id"], dup_end))
    if status in ("succeeded", "failed", "canceled"):
        finished_at = sim.later(t, 10)
    pipeline |= {"status": status, "message": message, "started_at": started_at}
    pipeline["finished_at"] = finished_at
    sim.add("pipelines", deleted_at, **pipeline)
    if delivery is not None:
        sim.add("deliveries", deleted_at, **delivery)
    return finished_at or t


def simulate_history(
    rng: random.Random,
    *,
    n_orders: int,
    end: datetime = datetime(2025, 3, 15, 12, tzinfo=UTC),
    span: timedelta = timedelta(days=75),
    n_addresses: int = 6,
    n_performers: int = 4,
) -> dict[str, pl.DataFrame]:
    """An ODS snapshot: ``n_orders`` orders registered in ``[end - span, end)``."""
    sim = _Sim(rng, loaded_at=end, performers=[])
    sim.performers = [sim.uuid() for _ in range(n_performers)]
    addresses = [sim.uuid() for _ in range(n_addresses)]
    fetched = end - span - timedelta(days=1)
    tariffs: list[tuple[float, float]] = []
    for _ in range(rng.randint(1, 4)):
        tariff = (float(rng.choice((100, 150, 300))), rng.choice((0.02, 0.05, 0.1)))
        tariffs.append(tariff)
        config = {"id": sim.uuid(), "min_cost": tariff[0], "rubles_per_meter": tariff[1]}
        sim.add("configs", None, **config, fetched_at=fetched)
        fetched = sim.later(fetched, span.total_seconds() / 4)
    for replaced in sim.rows["configs"][:-1]:
        replaced["_deleted_at"] = end  # the source keeps only the current config
    for _ in range(n_orders):
        # A third of the orders fall in the last day, so "last 24 hours" queries see rows.
        window = timedelta(hours=20) if rng.random() < 0.3 else span
        registered = (
            end
            - window
            + timedelta(microseconds=rng.randint(0, int(window / timedelta(microseconds=1))))
        )
        registered = min(registered, end - timedelta(hours=4))
        deleted_at = end if rng.random() < 0.1 else None
        order_id = sim.uuid()
        sim.add(
            "orders",
            deleted_at,
            id=order_id,
            source_address_id=rng.choice(addresses),
            target_address_id=rng.choice(addresses),
            extra="fragile" if rng.random() < 0.05 else None,
            registered_at=registered,
        )
        t = registered
        count = rng.choice((1, 1, 1, 2, 3))
        for index in range(count):
            t = _pipeline(
                sim,
                order_id,
                sim.later(t, 300),
                index == count - 1,
                deleted_at,
                rng.choice(tariffs),
            )
    seen: dict[str, list[datetime]] = {}
    for performer_id, at in sim.assignments:
        seen.setdefault(performer_id, []).append(at)
    for performer_id, times in seen.items():
        sim.add(
            "performers",
            None,
            performer_id=performer_id,
            first_seen_at=min(times),
            last_seen_at=max(times),
            deliveries_count=len(times),
        )
    return {
        name: pl.DataFrame(sim.rows[name], schema=schema) for name, schema in ODS_SCHEMAS.items()
    }


def lazy(frames: dict[str, pl.DataFrame]) -> dict[str, pl.LazyFrame]:
    """The frames as LazyFrames, the transforms' input type."""
    return {name: frame.lazy() for name, frame in frames.items()}


def ods_histories(max_orders: int = 6) -> st.SearchStrategy[dict[str, pl.DataFrame]]:
    """Hypothesis strategy of ODS snapshots with 1..``max_orders`` orders."""
    return st.builds(
        lambda rng, n: simulate_history(rng, n_orders=n),
        st.randoms(use_true_random=False),
        st.integers(1, max_orders),
    )
