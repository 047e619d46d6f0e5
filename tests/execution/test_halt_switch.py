"""The kill switch in the daemon: a halt asked for while a resume is being written is not lifted by that resume."""

from __future__ import annotations

import asyncio

from bridge.halt import HaltState, HaltSwitch
from bridge.store.db import Store


async def test_a_resume_written_before_a_halt_was_asked_for_does_not_lift_that_halt(fresh_store: Store) -> None:
    switch = HaltSwitch(fresh_store)
    told: list[bool] = []
    switch.listeners.append(lambda state: told.append(state.halted))
    await switch.set(True, "first", "api")
    halting: list[asyncio.Task[HaltState]] = []

    def halt_again() -> None:  # runs in the resume's journal batch: the halt is asked for while that commits
        halting.append(asyncio.get_running_loop().create_task(switch.set(True, "again", "api")))

    resume = asyncio.create_task(switch.set(False, None, "api"))
    await asyncio.sleep(0)  # the resume's write is queued
    await fresh_store.run(halt_again)
    await resume  # committed first, the halt's write after it
    assert switch.reread().halted, "the resume, asked for earlier, lifted the halt in force before its write committed"
    state = await halting[0]
    assert state.halted and switch.reread().halted and switch.reread().reason == "again"
    assert told[-1] is True, "the last change told is the halt"
