"""Start-up objects are frozen out of the garbage collector's passes."""

from __future__ import annotations

import gc

from bridge.heap import freeze_startup_objects


def test_freezing_exempts_every_live_object_and_collects_first() -> None:
    class Cycle:
        other: object = None

    first, second = Cycle(), Cycle()
    first.other, second.other = second, first
    del first, second  # garbage only a collection frees: it must not be frozen for good
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 1000  # this process's modules, functions, ...
        assert not any(isinstance(o, Cycle) for o in _frozen())
    finally:
        gc.unfreeze()


def _frozen() -> list[object]:
    """The frozen objects: unfreezing puts them back where `gc.get_objects` sees them."""
    gc.unfreeze()
    objects = gc.get_objects()
    gc.freeze()
    return objects
