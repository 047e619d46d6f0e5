"""Keep the objects of start-up out of the garbage collector's full passes."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once, then exempt every object alive now (modules, config, app) from later collections.

    Call it once a daemon process has started. A full collection otherwise walks every one of those
    objects again, a pause of 10-20 ms in the middle of serving webhooks every few thousand signals.
    What start-up leaves behind lives as long as the process (a config a reload replaces is freed by
    reference counting, as before); only a cycle among frozen objects would stay, once.
    """
    gc.collect()
    gc.freeze()
