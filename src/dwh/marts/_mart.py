"""What a mart module declares: its table, its SELECT and how it is partitioned."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mart:
    """A mart: ``select`` yields every column of ``marts.<name>`` except ``_version``.

    ``day_column`` names the ``Date`` column that partitions the table by month; such marts can
    be refreshed from a day on. Marts without one are rebuilt whole on every refresh.
    ``select`` may use the query parameter ``{sla_target_seconds:UInt32}``.
    """

    name: str
    select: str
    day_column: str | None = None

    @property
    def table(self) -> str:
        """The qualified table name."""
        return f"marts.{self.name}"
