"""A whole-source read in slices of orders: every row once, each in its order's slice."""

from __future__ import annotations

import uuid
from pathlib import Path

import polars as pl
import psycopg
import pytest

from dwh.engines.embedded import Dsns
from dwh.extract import SOURCE_TABLES, plan_slices, read_in_slices
from dwh.extract import slices as slices_module
from dwh.extract.slices import _set_aside, _spill_directory

_KEYS = {"order": "id", "pipeline": "id", "stage": "id", "delivery": "pipeline_id", "config": "id"}


def _whole(dsn: str, table: str) -> set[str]:
    key = _KEYS[table]
    with psycopg.connect(dsn) as conn:
        return {str(r[0]) for r in conn.execute(f'SELECT {key} FROM "{table}"').fetchall()}


@pytest.mark.integration
@pytest.mark.parametrize("analyzed", [True, False], ids=["histogram", "no statistics"])
def test_slices_hold_every_row_once_with_its_parents(
    simulated: Dsns, analyzed: bool, tmp_path: Path
) -> None:
    if analyzed:
        with psycopg.connect(simulated.source, autocommit=True) as conn:
            conn.execute("ANALYZE")
    read = read_in_slices(simulated.replica, rows_per_slice=2_000, spill_root=tmp_path)
    assert len(read.slices) >= 4
    assert read.slices == plan_slices(simulated.replica, 2_000)

    seen: dict[str, list[str]] = {table: [] for table in SOURCE_TABLES}
    for frames in read.frames():
        assert frames.keys() == SOURCE_TABLES.keys()
        orders = set(frames["order"]["id"])
        pipelines = frames["pipeline"]
        assert set(pipelines["order_id"]) <= orders
        ids = set(pipelines["id"])
        assert set(frames["stage"]["pipeline_id"]) <= ids
        assert set(frames["delivery"]["pipeline_id"]) <= ids
        for table, frame in frames.items():
            assert frame.schema == SOURCE_TABLES[table] | {"_xmin": pl.Int64()}
            seen[table] += frame[_KEYS[table]].to_list()
    assert not list(tmp_path.iterdir())  # the rows set aside went with the read
    for table, keys in seen.items():
        assert len(keys) == len(set(keys)), table
        assert set(keys) == _whole(simulated.source, table), table


def test_a_row_read_twice_is_kept_in_its_newest_version(tmp_path: Path) -> None:
    # An update between two page ranges can move a row into a range read later.
    schema = SOURCE_TABLES["delivery"] | {"_xmin": pl.Int64()}

    def rows(keys: list[str], costs: list[float], xmins: list[int]) -> pl.DataFrame:
        given = {"pipeline_id": keys, "cost": costs, "_xmin": xmins}
        return pl.DataFrame(
            {name: given.get(name, [None] * len(keys)) for name in schema.names()}, schema=schema
        )

    old = rows(["a", "b"], [1.0, 2.0], [10, 11])
    new = rows(["a"], [5.0], [20])
    old.write_ipc(tmp_path / "delivery-0-0.arrow")
    new.write_ipc(tmp_path / "delivery-0-3.arrow")

    kept = _set_aside(tmp_path, "delivery", 0).sort("pipeline_id")
    assert kept["pipeline_id"].to_list() == ["a", "b"]
    assert kept["cost"].to_list() == [5.0, 2.0]
    assert _set_aside(tmp_path, "delivery", 1).is_empty()


def test_a_dead_reads_spill_directory_is_removed_by_the_next_read(tmp_path: Path) -> None:
    # A killed first load leaves its directory behind; one still in use must stay.
    with _spill_directory(tmp_path) as alive:
        (alive / "stage-0-0.arrow").write_bytes(b"rows")
        dead = tmp_path / "slices-dead"
        dead.mkdir()
        (dead / "stage-0-0.arrow").write_bytes(b"rows")
        with _spill_directory(tmp_path) as mine:
            assert sorted(tmp_path.iterdir()) == sorted([alive, mine])
    assert not list(tmp_path.iterdir())


def test_children_find_their_pipelines_slice_even_when_hashes_collide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    numbers = [i * 7919 + 1 for i in range(500)]  # distinct in their last 16 bits
    ids = pl.Series([str(uuid.UUID(int=n)) for n in numbers])
    slices = pl.Series(range(500), dtype=pl.UInt32) % 7
    # Pipelines the lookup does not know, each with the last 16 bits of one it knows.
    strangers = [str(uuid.UUID(int=(1 << 100) + n)) for n in numbers[:50]]
    children = pl.DataFrame({"pipeline_id": [*ids.sample(300, seed=1), *strangers]})
    expected = {key: slices[numbers.index(uuid.UUID(key).int)] for key in children[:300, 0]}

    def routed() -> dict[str, int]:
        frame = slices_module._Owners.of(ids, slices).route(children)
        return dict(zip(frame["pipeline_id"], frame["_slice"], strict=True))

    assert routed() == expected
    # Seed 0: 16 hashes for 500 ids, so another seed is tried; seed 1: the last 16 bits,
    # unique among the ids but shared by every stranger with its twin.
    monkeypatch.setattr(
        slices_module,
        "_hash",
        lambda keys, seed: (
            keys.str.slice(-4).str.to_integer(base=16).cast(pl.UInt64) // (1 if seed else 4096)
        ),
    )
    assert slices_module._Owners.of(ids, slices).seed == 1
    assert routed() == expected
