"""The consumer's counters and gauges, in one small object an exporter can read.

Counters only grow for the life of the process; gauges describe the last batch. Updates and
:meth:`EventMetrics.snapshot` take a lock, so an exporter thread (a Prometheus collector, a
log line) reads a consistent set while the consumer runs.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class EventMetrics:
    """What the events path has done since the process started."""

    records_consumed: int = 0
    events_inserted: int = 0
    events_duplicate: int = 0
    dead_letters: int = 0
    dead_letters_by_reason: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    offsets_committed: int = 0
    commit_failures: int = 0
    broker_errors: int = 0
    sink_retries: int = 0
    refreshes: int = 0
    partitions_dropped: int = 0
    last_batch_records: int = 0
    last_batch_seconds: float = 0.0
    last_commit_unixtime: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **increments: int) -> None:
        """Add to counters by name: ``metrics.add(records_consumed=10, batches=1)``."""
        with self._lock:
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)

    def set(self, **values: float) -> None:
        """Set gauges by name: ``metrics.set(last_batch_seconds=0.4)``."""
        with self._lock:
            for name, value in values.items():
                setattr(self, name, value)

    def dead_lettered(self, reasons: Counter[str]) -> None:
        """Count dead letters, by reason kind (``not_json``, ``contract``, …)."""
        with self._lock:
            self.dead_letters += sum(reasons.values())
            self.dead_letters_by_reason.update(reasons)

    def snapshot(self) -> dict[str, float]:
        """Every counter and gauge as a flat mapping; per-reason dead letters as
        ``dead_letters_by_reason.<reason>``."""
        with self._lock:
            values: dict[str, float] = {
                name: float(value)
                for name, value in vars(self).items()
                if not name.startswith("_") and isinstance(value, int | float)
            }
            for reason, count in sorted(self.dead_letters_by_reason.items()):
                values[f"dead_letters_by_reason.{reason}"] = float(count)
        return values
