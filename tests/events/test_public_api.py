"""The public API of dwh.events: explicit, sorted, importable."""

from __future__ import annotations

import dwh.events


def test_all_is_sorted_and_resolves() -> None:
    names = dwh.events.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(dwh.events, name) is not None
