"""Each notification format against a loopback receiver, retries with backoff, and a bounded queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
import time
from typing import Any

import httpx
import pytest

from bridge.notify.config import Notifications, NotifyTarget
from bridge.notify.events import Event
from bridge.notify.send import MAX_RETRY_WAIT, Notifier, _retry_after
from tests.conftest import GUARD
from tests.notify.receiver import Receiver

EVENT = Event("signal.rejected", "sq/paper AMD: rejected: exit while flat", {"ticker": "AMD"})
BOT_TOKEN = "123456:ABC-secret-bot-token"


def settings(*targets: NotifyTarget, **kw: float) -> Notifications:
    return Notifications(targets=list(targets), backoff=0.05, timeout=GUARD, **kw)  # type: ignore[arg-type]


async def deliver(config: Notifications, receiver: Receiver, count: int = 1) -> Notifier:
    notifier = Notifier(lambda: config)
    notifier.start()
    try:
        notifier.submit(EVENT)
        await asyncio.to_thread(receiver.wait, count)
        await notifier.drain(GUARD)
    finally:
        await notifier.stop()
    return notifier


async def test_generic_webhook_gets_a_json_event() -> None:
    with Receiver() as r:
        await deliver(settings(NotifyTarget(type="webhook", url=f"{r.base}/hook")), r)
    got = r.received[0]
    assert got.path == "/hook" and got.headers["content-type"] == "application/json"
    body = json.loads(got.body)
    assert body["kind"] == "signal.rejected" and body["text"] == EVENT.text and body["data"] == {"ticker": "AMD"}
    assert body["at"].endswith("Z") or "+00:00" in body["at"]


async def test_discord_gets_content() -> None:
    with Receiver() as r:
        await deliver(settings(NotifyTarget(type="discord", url=f"{r.base}/api/webhooks/1/abc")), r)
    body = json.loads(r.received[0].body)
    assert body["content"] == f"trade-bridge signal.rejected: {EVENT.text}" and body["username"] == "trade-bridge"


async def test_telegram_calls_send_message_with_the_chat() -> None:
    with Receiver() as r:
        target = NotifyTarget(type="telegram", bot_token=BOT_TOKEN, chat_id="-100200", api_url=r.base)
        await deliver(settings(target), r)
    got = r.received[0]
    assert got.path == f"/bot{BOT_TOKEN}/sendMessage"
    body = json.loads(got.body)
    assert body["chat_id"] == "-100200" and "exit while flat" in body["text"]


async def test_ntfy_gets_plain_text_with_title_priority_and_token() -> None:
    with Receiver() as r:
        target = NotifyTarget(type="ntfy", url=f"{r.base}/bridge-alerts", access_token="tk_ntfyaccesstoken123")
        await deliver(settings(target), r)
    got = r.received[0]
    assert got.path == "/bridge-alerts" and got.body.decode() == EVENT.text
    assert got.headers["title"] == "trade-bridge signal.rejected"
    assert got.headers["priority"] == "default" and got.headers["authorization"] == "Bearer tk_ntfyaccesstoken123"


async def test_a_receiver_that_fails_then_recovers_gets_the_event_once(caplog: pytest.LogCaptureFixture) -> None:
    with Receiver(fail_first=2) as r:
        notifier = await deliver(settings(NotifyTarget(type="discord", url=f"{r.base}/hook/secret-part")), r)
    assert r.attempts == 3 and len(r.received) == 1
    assert (notifier.sent, notifier.failed) == (1, 0)
    assert "secret-part" not in caplog.text  # URLs (which hold Discord's token) are never logged


async def test_a_receiver_that_never_recovers_is_given_up_on_after_the_retries() -> None:
    with Receiver(fail_first=100) as r:
        config = settings(NotifyTarget(type="webhook", url=f"{r.base}/hook"), retries=2)
        notifier = Notifier(lambda: config)
        notifier.start()
        notifier.submit(EVENT)
        await notifier.drain(GUARD)
        await notifier.stop()
    assert r.attempts == 3 and (notifier.sent, notifier.failed) == (0, 1)


async def test_unreachable_receiver_never_delays_submit_and_a_full_queue_drops() -> None:
    # A receiver that never answers (it listens, and never takes a connection): were submit to deliver, or wait for
    # a delivery, it would hang on it; it must return at once, queuing or dropping each event.
    with socket.create_server(("127.0.0.1", 0)) as hung:
        hung.setblocking(False)
        url = f"http://127.0.0.1:{hung.getsockname()[1]}/x"
        config = settings(NotifyTarget(type="webhook", url=url), queue_size=2, retries=0)
        notifier = Notifier(lambda: config)
        notifier.start()
        for _ in range(50):
            notifier.submit(EVENT)
        # Nothing was sent or tried meanwhile (the sender runs only once this test yields to the loop), not even a
        # connection made; nothing waited for room: the queue took two and the rest were dropped.
        with pytest.raises(BlockingIOError):
            hung.accept()
        assert (notifier.sent, notifier.failed, notifier.dropped) == (0, 0, 48)
        await notifier.stop(grace=0.1)


async def test_events_a_target_did_not_ask_for_are_not_sent() -> None:
    with Receiver() as r:
        config = settings(NotifyTarget(type="webhook", url=f"{r.base}/hook", events=["halt"]))
        notifier = Notifier(lambda: config)
        notifier.start()
        notifier.submit(EVENT)
        notifier.submit(Event("halt", "trading HALTED"))
        await asyncio.to_thread(r.wait, 1)
        await notifier.stop()
    assert [json.loads(x.body)["kind"] for x in r.received] == ["halt"]


async def test_a_dead_target_does_not_hold_back_a_healthy_targets_notifications() -> None:
    """A Discord webhook whose host is down (connection refused, retried with backoff) must not stall the
    ntfy target the operator relies on: each target has its own delivery slots."""
    dead: list[str] = []
    healthy: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "dead.example":
            dead.append(json.loads(request.content)["content"])
            raise httpx.ConnectError("connection refused", request=request)
        healthy.append(request.content.decode())
        return httpx.Response(200)

    # The dead target's retry waits the longest backoff there is: its first halt holds a slot of its own for the
    # whole test, and the halts after it (told in turn) each hold one waiting for it, the rest queued behind them.
    # Slots shared with the healthy target would hold its notifications back as long (past GUARD), not merely a
    # little while.
    config = Notifications(
        targets=[NotifyTarget(type="discord", url="https://dead.example/api/webhooks/1/x", name="discord"),
                 NotifyTarget(type="ntfy", url="https://ntfy.example/ops", name="ntfy")],
        backoff=300, retries=3, events=["halt"],
    )  # fmt: skip
    notifier = Notifier(lambda: config, transport=httpx.MockTransport(handler))
    notifier.start()
    try:
        for i in range(20):
            notifier.submit(Event("halt", f"halt {i}"))
        deadline = time.monotonic() + GUARD  # a wait for the outcome, not a stopwatch
        while len(healthy) < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert sorted(healthy) == sorted(f"halt {i}" for i in range(20)), healthy
        # ... all while the dead target's first halt waited for its retry, holding up every other halt to it.
        assert dead == ["trade-bridge halt: halt 0"] and notifier.failed == 0, (dead, notifier.failed)
    finally:
        await notifier.stop(grace=0)


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"parameters": "soon"}', b'{"retry_after": {"s": 1}}', b"\xff"])
async def test_a_429_with_an_unexpected_body_is_retried(body: bytes) -> None:
    answers = [httpx.Response(429, content=body), httpx.Response(200)]
    config = settings(NotifyTarget(type="telegram", bot_token=BOT_TOKEN, chat_id="1"), retries=1)
    notifier = Notifier(lambda: config, transport=httpx.MockTransport(lambda request: answers.pop(0)))
    notifier.start()
    try:
        notifier.submit(EVENT)
        await notifier.drain(GUARD)
    finally:
        await notifier.stop()
    assert (notifier.sent, notifier.failed, answers) == (1, 0, [])


ODD_WAITS = [("2.5", 2.5), ("86400", MAX_RETRY_WAIT), ("inf", MAX_RETRY_WAIT), ("-5", None), ("nan", None),
             ("Wed, 21 Oct 2026 07:28:00 GMT", None)]  # fmt: skip


@pytest.mark.parametrize(("header", "wait"), ODD_WAITS)
def test_a_retry_after_is_capped_and_nonsense_is_ignored(header: str, wait: float | None) -> None:
    """A receiver's Retry-After never holds a delivery longer than MAX_RETRY_WAIT; one that is no wait is none."""
    assert _retry_after(httpx.Response(429, headers={"retry-after": header})) == wait


async def test_a_target_with_an_empty_event_list_gets_no_event() -> None:
    """`events: []` on a target ("only these events go here": none) must not mean "the block's events"."""
    with Receiver() as r:
        muted = NotifyTarget(type="webhook", url=f"{r.base}/muted", events=[])
        config = settings(muted, NotifyTarget(type="webhook", url=f"{r.base}/hook"))
        await deliver(config, r)
    assert [x.path for x in r.received] == ["/hook"]


async def test_a_discord_message_pings_nobody_whatever_the_signal_said() -> None:
    """A ticker or a broker's error is the sender's text: `@everyone` in it must not ping the whole server."""
    loud = Event("signal.rejected", "sq/paper @everyone <@&1234>: rejected: exit while flat")
    with Receiver() as r:
        notifier = Notifier(lambda: settings(NotifyTarget(type="discord", url=f"{r.base}/api/webhooks/1/abc")))
        notifier.start()
        try:
            notifier.submit(loud)
            await asyncio.to_thread(r.wait, 1)
        finally:
            await notifier.stop()
    body = json.loads(r.received[0].body)
    assert "@everyone" in body["content"]  # shown as text ...
    assert body.get("allowed_mentions") == {"parse": []}  # ... and parsed as no mention (Discord's default: all)


async def test_notifications_still_waiting_at_shutdown_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A receiver that hangs past the stop's grace: what it never got is not lost without a word."""
    release = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200)

    config = settings(NotifyTarget(type="webhook", url="https://hooks.example/x", name="ops"))
    notifier = Notifier(lambda: config, transport=httpx.MockTransport(hang))
    notifier.start()
    for i in range(20):
        notifier.submit(Event("halt", f"halt {i}"))
    await asyncio.sleep(0.05)  # 8 in flight, 12 waiting behind them
    await notifier.stop(grace=0.1)
    assert (notifier.sent, notifier.dropped + notifier.failed) == (0, 20)
    assert "20 notification(s) not delivered (ops: 20)" in caplog.text, caplog.text


async def test_a_receiver_that_trickles_its_answer_fails_the_attempt_at_the_timeout() -> None:
    """`timeout` is per attempt: a receiver that sends a byte now and then (never pausing a whole timeout) must not
    hold the delivery, and one of its target's slots, for ever."""
    stop = asyncio.Event()

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while not stop.is_set():
            writer.write(b"X-Wait: 1\r\n")  # headers that never end
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = Notifications(targets=[NotifyTarget(type="webhook", url=f"http://127.0.0.1:{port}/hook")], timeout=0.3,
                           retries=0)  # fmt: skip
    notifier = Notifier(lambda: config)
    notifier.start()
    try:
        notifier.submit(EVENT)
        await notifier.drain(GUARD)
        assert (notifier.sent, notifier.failed) == (0, 1), "the attempt was still waiting for the answer"
    finally:
        stop.set()
        await notifier.stop(grace=0.1)
        server.close()
        await server.wait_closed()


async def test_a_target_a_reload_removed_is_sent_nothing_more() -> None:
    """The operator removed it (a chat others read, a webhook URL that leaked): what waited for it, or was being
    retried, does not go there after the reload."""
    with Receiver(fail_first=1000) as r:  # down: the delivery is being retried when the reload lands
        current = Notifications(targets=[NotifyTarget(type="webhook", url=f"{r.base}/hook")], backoff=0.2,
                                retries=20, timeout=GUARD)  # fmt: skip
        notifier = Notifier(lambda: current)
        notifier.start()
        try:
            notifier.submit(EVENT)
            while r.attempts < 1:  # its first attempt failed: it waits for its retry
                await asyncio.sleep(0.01)
            current = Notifications(targets=[])  # the reload removed it
            await notifier.drain(GUARD)
            assert notifier.dropped == 1 and notifier.failed == 0, (notifier.dropped, notifier.failed)
        finally:
            await notifier.stop(grace=0.1)


async def test_a_target_removed_beside_another_of_its_kind_does_not_hand_that_one_its_notices() -> None:
    """A reload's new address takes over what waited for the old one; a target both configs hold is no new address:
    it was sent the event already, and would be told it twice."""
    with Receiver(fail_first=1000) as down, Receiver() as kept:
        targets = [
            NotifyTarget(type="webhook", url=f"{down.base}/hook"),
            NotifyTarget(type="webhook", url=f"{kept.base}/hook"),
        ]
        current = Notifications(targets=targets, backoff=0.2, retries=20, timeout=GUARD)
        notifier = Notifier(lambda: current)
        notifier.start()
        try:
            notifier.submit(EVENT)
            while down.attempts < 1 or not kept.received:  # the one retried, the other told
                await asyncio.sleep(0.01)
            current = Notifications(targets=targets[1:])  # the reload removed the one down
            await notifier.drain(GUARD)
            assert notifier.dropped == 1 and len(kept.received) == 1, (notifier.dropped, kept.received)
        finally:
            await notifier.stop(grace=0.1)


async def test_a_resume_is_never_told_before_the_halt_it_follows_whatever_the_retries() -> None:
    """The halt's first attempt fails and is retried later: the resume after it waits, or the chat would end on
    "HALTED" while trading goes on (or on "resumed" while it is halted)."""
    halt = Event("halt", "trading HALTED by api: drill; no new order is sent until a resume")
    resume = Event("resume", "trading resumed by api")
    with Receiver(fail_first=1) as r:
        config = Notifications(targets=[NotifyTarget(type="webhook", url=f"{r.base}/hook")], events=["halt", "resume"],
                               backoff=0.5, timeout=GUARD)  # fmt: skip
        notifier = Notifier(lambda: config)
        notifier.start()
        try:
            notifier.submit(halt)
            notifier.submit(resume)
            await asyncio.to_thread(r.wait, 2)
        finally:
            await notifier.stop()
    assert [json.loads(x.body)["kind"] for x in r.received] == ["halt", "resume"]


async def test_a_halt_moved_to_a_targets_new_address_is_told_there_before_the_resume_after_it() -> None:
    """A halt being retried when a reload changes its target's URL goes to the new URL; a resume made since waits
    for it there, or the new chat would end on "HALTED" while trading goes on."""
    halt = Event("halt", "trading HALTED by api: drill; no new order is sent until a resume")
    resume = Event("resume", "trading resumed by api")
    with Receiver(fail_first=1000) as wrong, Receiver() as right:
        target = NotifyTarget(type="discord", url=f"{wrong.base}/api/webhooks/1/wrong")
        current = Notifications(targets=[target], backoff=0.5, retries=5, timeout=GUARD)
        notifier = Notifier(lambda: current)
        notifier.start()
        try:
            notifier.submit(halt)
            while wrong.attempts < 1:  # its first attempt failed: it waits for its retry
                await asyncio.sleep(0.01)
            current = Notifications(targets=[NotifyTarget(type="discord", url=f"{right.base}/api/webhooks/1/right")])
            notifier.submit(resume)
            await asyncio.to_thread(right.wait, 2)
        finally:
            await notifier.stop()
    told = [json.loads(x.body)["content"] for x in right.received]
    assert ["HALTED" in text for text in told] == [True, False], told


async def test_the_first_delivery_loads_the_certificates_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # Making the HTTP client loads the CA bundle: a tenth of a second or more in which the loop, trading
    # included, stood still, at the first fill or halt worth telling.
    loaded_on: list[int] = []
    original = ssl.SSLContext.load_verify_locations

    def recording(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loaded_on.append(threading.get_ident())
        original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", recording)
    with Receiver() as r:
        await deliver(settings(NotifyTarget(type="webhook", url=f"{r.base}/hook")), r)
    assert r.received, "delivered"
    assert loaded_on, "the client was made (with its certificates) for the delivery"
    assert threading.get_ident() not in loaded_on, "the certificates were loaded on the event loop's thread"
