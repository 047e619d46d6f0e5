"""The order places of `server.limit_concurrency` go in, and the bound on connections waiting for one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.web.places import WAITING_PER_PLACE, Places


@dataclass(eq=False)
class Transport:
    closing: bool = False

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True


@dataclass(eq=False)
class Conn:
    """A connection as the places see it; what they told it is kept."""

    transport: Transport = field(default_factory=Transport)
    cycle: Any = None
    timeout_keep_alive_task: Any = None
    told: list[str] = field(default_factory=list)
    silent_since_long: bool = False  # holds its place without its request's head, STALLED_HEAD or more

    def stalled(self) -> bool:
        return self.silent_since_long

    def evict(self) -> None:
        self.transport.close()

    def place_given(self) -> None:
        self.told.append("given")

    def place_refused(self) -> None:
        self.told.append("refused")


def test_places_go_to_those_waiting_in_the_order_they_came_skipping_the_closed() -> None:
    places = Places(1)
    first, second, third, fourth = Conn(), Conn(), Conn(), Conn()
    assert places.enter(first) is True
    assert [places.enter(c) for c in (second, third, fourth)] == [False, False, False]
    second.transport.close()  # gone while it waited
    places.leave(first)
    assert (second.told, third.told, fourth.told) == ([], ["given"], [])
    places.give_up(fourth)  # its wait ended
    assert fourth.told == ["refused"]
    places.leave(third)
    assert places.holders == set() and not places.waiting


def test_beyond_the_waiting_bound_a_connection_is_refused_at_once() -> None:
    places = Places(2)
    assert [places.enter(Conn()) for _ in range(2)] == [True, True]
    assert all(places.enter(Conn()) is False for _ in range(2 * WAITING_PER_PLACE))
    assert places.enter(Conn()) is None


def test_one_waiting_closes_an_idle_kept_alive_connection_to_make_room() -> None:
    places = Places(2)
    busy, idle = Conn(), Conn(timeout_keep_alive_task=object())
    assert places.enter(busy) and places.enter(idle)
    assert places.enter(Conn()) is False
    assert idle.transport.closing and not busy.transport.closing


def test_one_waiting_closes_a_holder_stalled_on_its_head_when_none_is_idle() -> None:
    places = Places(2)
    busy, stalled = Conn(), Conn(silent_since_long=True)
    assert places.enter(busy) and places.enter(stalled)
    assert places.enter(Conn()) is False
    assert stalled.transport.closing and not busy.transport.closing
    assert places.enter(Conn()) is False  # the one closing already frees a place: nothing else to close for it
    assert not busy.transport.closing
