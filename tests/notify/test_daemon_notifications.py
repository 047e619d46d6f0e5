"""Notifications from a real daemon: a rejected signal and a halt reach a loopback webhook, without secrets."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.conftest import ADMIN, GUARD, TOKEN
from tests.execution.test_halt_journaled import halt_from_another_process, resume_from_another_process
from tests.notify.receiver import Bystander, Receiver


def test_rejected_signal_filled_order_and_halt_are_notified(make_daemon: Any) -> None:
    with Receiver(fail_first=1) as r:
        extra = (f"notifications:\n  backoff: 0.05\n  targets:\n    - type: webhook\n      url: {r.base}/hook\n"
                 "      name: ops\n")  # fmt: skip
        daemon = make_daemon(extra=extra)
        filled = daemon.post({"ticker": "AMD", "action": "buy", "price": 100})
        daemon.wait_final(filled.json()["id"])
        rejected = daemon.post({"ticker": "MSFT", "action": "exit"})
        daemon.wait_final(rejected.json()["id"])
        r.wait(2)
        httpx.post(f"{daemon.base}/api/halt", json={"reason": "maintenance"},
                   headers={"Authorization": f"Bearer {ADMIN}"}, timeout=GUARD)  # fmt: skip
        r.wait(3)
    bodies = [json.loads(x.body) for x in r.received]
    kinds = sorted(b["kind"] for b in bodies)
    assert kinds == ["halt", "order.filled", "signal.rejected"]
    by_kind = {b["kind"]: b for b in bodies}
    assert by_kind["order.filled"]["data"]["symbol"] == "AMD" and by_kind["order.filled"]["data"]["side"] == "buy"
    assert "MSFT" in by_kind["signal.rejected"]["text"]
    assert "maintenance" in by_kind["halt"]["text"]
    for raw in r.received:
        assert TOKEN.encode() not in raw.body and ADMIN.encode() not in raw.body
    assert r.base not in daemon.output()  # the target's URL is never logged


HALTS_TO = "notifications:\n  events: [halt, resume]\n  targets:\n    - type: webhook\n      url: %s/hook\n"
HOOK_SECRET = "whk-" + "5c4b3a29181706f5e4d3"  # the secret part of a Discord-style webhook URL


def test_a_notification_url_spelled_differently_by_httpx_is_not_logged_in_clear(make_daemon: Any) -> None:
    """httpx sends `http://LocalHost:<port>/...` to (and would log) `http://localhost:<port>/...`: the URL as
    configured no longer matches it, yet the webhook's secret must not reach the log."""
    with Receiver() as r:
        url = f"http://LocalHost:{r.port}/api/webhooks/1/{HOOK_SECRET}"
        extra = f"notifications:\n  targets:\n    - type: discord\n      url: {url}\n      name: ops\n"
        daemon = make_daemon(extra=extra)
        rejected = daemon.post({"ticker": "MSFT", "action": "exit"})  # exit while flat: signal.rejected
        daemon.wait_final(rejected.json()["id"])
        r.wait(1)
        daemon.stop()
    assert r.received[0].path.endswith(HOOK_SECRET)  # delivered to the configured URL
    log = daemon.output()
    assert HOOK_SECRET not in log, [line for line in log.splitlines() if HOOK_SECRET in line]


def test_a_halt_written_into_the_journal_shows_in_health_and_metrics_and_is_notified(make_daemon: Any) -> None:
    """`bridge halt` that the daemon did not confirm writes the journal: it is in force at once, so it shows at once."""
    with Receiver() as r:
        daemon = make_daemon(extra=f"notifications:\n  targets:\n    - type: webhook\n      url: {r.base}/hook\n")
        halt_from_another_process(str(daemon.db), "drill")
        health = httpx.get(f"{daemon.base}/health", timeout=GUARD).json()
        assert health["halted"] is True and health["kill_switch"]["reason"] == "drill", health
        metrics = httpx.get(f"{daemon.base}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=GUARD)
        assert "bridge_halted 1.0" in metrics.text
        r.wait(1)
    halt = json.loads(r.received[0].body)
    assert halt["kind"] == "halt" and "drill" in halt["text"]


def test_a_halt_and_a_resume_in_quick_succession_are_each_notified(make_daemon: Any) -> None:
    """Halted and resumed in a few milliseconds: each change is told, in turn, once (none by a later poll again)."""
    with Receiver() as r:
        daemon = make_daemon(extra=HALTS_TO % r.base)
        admin = {"Authorization": f"Bearer {ADMIN}"}
        for switch in ("halt", "resume", "halt", "resume"):
            answer = httpx.post(f"{daemon.base}/api/{switch}", json={"reason": "drill"}, headers=admin, timeout=GUARD)
            assert answer.status_code == 200, answer.text
        # Found only by the watch of the journal: once it is told, the watch has looked since the four above.
        halt_from_another_process(str(daemon.db), "after the drill")
        r.wait(5)
        daemon.stop()  # lets the notifications still queued go out: a repeat would be among them
    told = sorted((json.loads(x.body) for x in r.received), key=lambda body: body["at"])
    assert [body["kind"] for body in told] == ["halt", "resume", "halt", "resume", "halt"], [b["text"] for b in told]
    assert "after the drill" in told[-1]["text"]


def test_a_halt_and_a_resume_written_into_the_journal_between_two_looks_are_notified(make_daemon: Any) -> None:
    """`bridge halt` then `bridge resume`, neither confirmed by the daemon, both in the journal before it looks."""
    with Receiver() as r:
        daemon = make_daemon(extra=HALTS_TO % r.base)
        halt_from_another_process(str(daemon.db), "drill")
        resume_from_another_process(str(daemon.db))
        r.wait(2)
        daemon.stop()
    told = sorted((json.loads(x.body) for x in r.received), key=lambda body: body["at"])
    # Seen between the two writes (rarely), the halt is told as it is; else as one the resume wrote over.
    assert [b["kind"] for b in told] == ["halt", "resume"], [b["text"] for b in told]
    assert "drill" in told[0]["text"] or "HALTED, then resumed before the daemon saw it" in told[0]["text"]


def test_a_target_without_events_of_its_own_is_told_the_resume_after_a_halt(make_daemon: Any) -> None:
    """The default events end the story they start: told HALTED, the operator is told when trading goes on again."""
    with Receiver() as r:
        daemon = make_daemon(extra=f"notifications:\n  targets:\n    - type: webhook\n      url: {r.base}/hook\n")
        admin = {"Authorization": f"Bearer {ADMIN}"}
        for switch in ("halt", "resume"):
            answer = httpx.post(f"{daemon.base}/api/{switch}", json={"reason": "drill"}, headers=admin, timeout=GUARD)
            assert answer.status_code == 200, answer.text
        r.wait(2)
        daemon.stop()
    told = sorted((json.loads(x.body) for x in r.received), key=lambda body: body["at"])
    assert [b["kind"] for b in told] == ["halt", "resume"], [b["text"] for b in told]


def test_notices_retried_for_a_url_a_reload_corrected_go_to_the_new_url(make_daemon: Any) -> None:
    """The operator fixes the wrong webhook URL of their alert channel in the config: what was being retried for
    the old URL goes to the new one, not nowhere (nor, logged as a removed target, read as one the edit removed)."""
    with Receiver(fail_first=10**6) as wrong, Receiver() as right:  # the wrong one: a server that answers 500
        extra = ("notifications:\n  backoff: 0.5\n  retries: 20\n  targets:\n    - type: discord\n"
                 f"      url: {wrong.base}/api/webhooks/1/wrong\n")  # fmt: skip
        daemon = make_daemon(extra=extra)
        rejected = daemon.post({"ticker": "MSFT", "action": "exit"})  # exit while flat: signal.rejected
        daemon.wait_final(rejected.json()["id"])
        deadline = time.monotonic() + GUARD
        while wrong.attempts < 1:  # its first attempt failed: it waits for a retry
            assert time.monotonic() < deadline, daemon.output()[-2000:]
            time.sleep(0.01)
        daemon.config.write_text(daemon.config.read_text().replace(wrong.base, right.base))
        answer = httpx.post(f"{daemon.base}/api/reload", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=GUARD)
        assert answer.status_code == 200, answer.text
        right.wait(1)
        daemon.stop()
    assert "MSFT" in json.loads(right.received[0].body)["content"]
    assert len(right.received) == 1, "told once"


PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def test_notifications_go_straight_to_their_target_whatever_proxy_the_environment_names(make_daemon: Any) -> None:
    """A proxy from the daemon's environment (a unit's Environment=, a shell's HTTPS_PROXY) is not used: it would
    see every notice, and the URLs and tokens of the targets, which the bridge never hands anyone but the target."""
    with Bystander() as proxy, Receiver() as r:
        daemon = make_daemon(
            start=False, extra=f"notifications:\n  targets:\n    - type: webhook\n      url: {r.base}/hook\n"
        )
        daemon.env = {**dict.fromkeys(PROXIES, proxy.url), "NO_PROXY": "", "no_proxy": ""}
        daemon.start()
        rejected = daemon.post({"ticker": "MSFT", "action": "exit"})  # exit while flat: signal.rejected
        daemon.wait_final(rejected.json()["id"])
        r.wait(1)
        daemon.stop()
    assert proxy.received == []
