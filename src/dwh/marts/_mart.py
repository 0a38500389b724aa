"""What a mart module declares: its table, its SELECT and how it is partitioned."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mart:
    """A mart: ``select`` yields every column of ``marts.<name>`` except ``_version``.

    ``day_column`` names the ``Date`` column that partitions the table by month; such marts can
    be refreshed from a day on. Marts without one are rebuilt whole on every refresh.
    ``select`` may use the query parameter ``{sla_target_seconds:UInt32}``.

    A whole-history mart may be aggregated from ``parts``, a daily mart holding its measures
    per day (counts, sums, value lists), instead of from the DDS: the parts are refreshed from
    a day on like any daily mart, then this mart is recomputed whole from them, which reads
    far fewer rows than the facts and needs no ``FINAL``. ``covers`` names the DDS fact the
    parts are computed from: a month of it missing from the parts means they were never
    built there (a new parts table), so a refresh starts there instead. A month whose fact
    rows give no parts rows is refreshed every time for that reason: needless, never wrong.
    """

    name: str
    select: str
    day_column: str | None = None
    parts: Mart | None = None
    covers: str | None = None

    def __post_init__(self) -> None:
        if (self.parts is None) != (self.covers is None):
            raise ValueError(f"{self.name}: parts and covers go together")

    @property
    def table(self) -> str:
        """The qualified table name."""
        return f"marts.{self.name}"

    @property
    def reads(self) -> str:
        """The SELECT that reads the DDS for this mart: its parts' when it has parts."""
        return self.parts.select if self.parts is not None else self.select
