"""Secrets written with JSON escapes or percent-encoding are found, and only whole escapes are masked."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable

from bridge.config import encoded
from bridge.config.encoded import MAX_ESCAPES
from bridge.config.secrets import redact_encoded, redact_values, redacted_copy, redacted_json

TOKEN = "tok-" + "a1b2c3d4e5f6a7b8c9d0"
SLASHED = "ab/cd+ef/gh%41ij"  # a broker secret with `/`, `+` and a literal `%41` in it


def test_json_escapes_are_read_as_json_reads_them() -> None:
    body = json.dumps({"n": TOKEN, "price": 10.10, "x": "\u00e9 \n"}, ensure_ascii=True).replace("a", "\\u0061")
    masked = redact_encoded(body.replace("\\u0061", "\\u0041", 1), [TOKEN.replace("a", "A", 1)])
    assert json.loads(masked) == {"n": "***", "price": 10.10, "x": "\u00e9 \n"}
    assert redact_encoded('"' + "\\ud83d\\ude00" + TOKEN + '"', ["\U0001f600" + TOKEN]) == '"***"'  # a surrogate pair
    assert redact_encoded(r'"\\u0074ok"', ["tok-a"]) == r'"\\u0074ok"', "an escaped backslash is no escape"


def test_percent_encoding_and_layers_of_it() -> None:
    secrets = [SLASHED]
    assert redact_encoded("x=ab%2Fcd%2bef/gh%2541ij&y=1", secrets) == "x=***&y=1"
    assert redact_encoded("x=ab%2Fcd%2Bef%2Fgh%2541ij", secrets) == "x=***", "the secret's own % encoded"
    assert redact_encoded('"ab\\/cd+ef\\/gh\\u002541ij"', secrets) == '"***"', "its % as a JSON escape"
    assert redact_encoded("x=%C3%A9t%C3%A9-secret", ["\u00e9t\u00e9-secret"]) == "x=***", "UTF-8 in %XX"
    assert redact_encoded("5% off, 100%, \\d+", secrets) == "5% off, 100%, \\d+", "nothing found: as sent"


def test_header_names_are_searched_folded() -> None:
    mixed = "Tok-MiXeD-AbCdEfGh"
    name = ("x-" + "".join(f"%{b:02X}" for b in mixed.encode())).lower()
    assert redact_encoded(name, [mixed.lower()], fold=True) == "x-***"


def test_parsed_values_are_masked_where_a_string_holds_the_secret_encoded() -> None:
    value = {
        "comment": "https://h/webhook/sq/%74ok-a1b2c3d4e5f6a7b8c9d0",
        "price": 1234,
        "k%74ok-a1b2c3d4e5f6a7b8c9d0": 1,
    }
    assert redact_values(value, [TOKEN, "1234"]) == {"comment": "https://h/webhook/sq/***", "price": 1234, "k***": 1}


def test_a_text_with_more_escapes_than_can_be_read_is_not_kept() -> None:
    # Each escape is decoded in Python, layer upon layer: a body crafted to be nothing but escapes held the event
    # loop for most of a second. Past MAX_ESCAPES the text is replaced whole, saying why, since any could hide one.
    unit = "\\u0025\\u005c%5C%25\x00\\u0000%00u00"
    crafted = unit * (MAX_ESCAPES // 4)
    masked = redact_encoded(crafted, [TOKEN])
    assert masked.startswith("*** (") and "escapes, not kept" in masked and "\\u0025" not in masked
    within = "\\u0430" * (MAX_ESCAPES // 2) + " " + TOKEN.replace("a", "\\u0061")
    assert redact_encoded(within, [TOKEN]) == "\\u0430" * (MAX_ESCAPES // 2) + " ***", "a long message is read"


def test_a_long_message_in_another_script_written_with_json_escapes_keeps_its_text() -> None:
    # TradingView sends a message as typed (UTF-8, no escapes), but Python's json (requests' `json=`) and PHP's
    # json_encode write every letter outside ASCII as `\uXXXX` (an emoji as two): a relay's alert with a message of a
    # few thousand Cyrillic letters, well within max_body_bytes, was journaled as a note saying it was not kept.
    message = "Пробой уровня сопротивления, вход по рынку; стоп под минимумом дня. " * 90  # some 6,000 letters
    message += " \U0001f680" * 500
    body = json.dumps({"ticker": "AMD", "action": "buy", "message": message, "k": TOKEN})
    assert len(body.encode()) < 64 * 1024, "the default max_body_bytes lets it in"
    masked = redact_encoded(body.replace(TOKEN, TOKEN.replace("a", "\\u0061")), [TOKEN])
    assert json.loads(masked) == {"ticker": "AMD", "action": "buy", "message": message, "k": "***"}


def test_a_payload_whose_json_escapes_are_only_its_own_is_echoed_itself() -> None:
    # A newline or a letter outside ASCII is written escaped in JSON text (`\n`, `\u00e9`) but holds no escape the
    # sender wrote: read through redact_values, every such webhook's payload was walked and copied for nothing.
    payload = {"ticker": "AMD", "action": "buy", "comment": 'long \u00e9t\u00e9\nentry "A"', "price": 10}
    assert redacted_copy(payload, [TOKEN]) is payload
    assert redacted_json(payload, [TOKEN]) == json.dumps(payload)
    for sent in ("a\\b", "50%", "a\x00b", TOKEN):  # a backslash, a percent, a NUL or the secret itself: read
        assert redacted_copy(payload | {"comment": sent}, [TOKEN]) is not payload, sent
    assert redacted_copy({"n": "ab%2Fcd+ef%2Fgh%2541ij"}, [SLASHED]) == {"n": "***"}


def _python_calls(work: Callable[[], object]) -> int:
    """How many Python functions (generators' resumptions included) `work` runs: its cost, counted, not timed."""
    calls = 0

    def count(_frame: object, event: str, _arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


def test_a_stranger_s_header_of_unreadable_percent_octets_costs_no_python_call_per_octet() -> None:
    # Every header value is masked before the token is checked, a stranger's too. A run of `%XX` that is not UTF-8
    # (`%FF%FF...`) was read one octet at a time in Python, an exception per octet: 64 KiB of it in one header (the
    # most a head may hold) took some 100 ms a request, what a stranger with no token could send again and again.
    value = "%FF" * (64 * 1024 // 3 - 100)
    assert redact_encoded(value, [TOKEN]) == value
    assert _python_calls(lambda: redact_encoded(value, [TOKEN])) < 100
    nuls = "\x00a" * (32 * 1024 - 100)  # UTF-16 read as UTF-8: a NUL beside every character
    assert _python_calls(lambda: redact_encoded(nuls, [TOKEN])) < 100


def test_a_percent_run_reads_as_its_characters_are_mapped() -> None:
    # The reading searched (made at once) and the characters mapped back to the text (once a secret is found) must
    # agree, or a secret's span is cut wrong: octets that begin no UTF-8 character are read as written, any case.
    octets = ["41", "7f", "C3", "a9", "e2", "82", "AC", "f0", "9F", "98", "80", "ed", "A0", "c0", "F5", "80", "ff"]
    chosen = random.Random(7)
    for _ in range(3000):
        run = "".join("%" + chosen.choice(octets) for _ in range(chosen.randint(1, 9)))
        match = encoded.PERCENT.pattern.fullmatch(run)
        assert match is not None
        mapped = "".join(char for char, _start, _end in encoded._percent_run(match))
        assert encoded._percent_text(match) == mapped, run
    secret = "\u00e9t\u00e9-" + TOKEN
    sent = "x=%ff%C3%A9t%c3%a9-" + "".join(f"%{b:02x}" for b in TOKEN.encode()) + "%E2%82&y=%Ff"
    assert redact_encoded(sent, [secret]) == "x=%ff***%E2%82&y=%Ff", "only the secret's own escapes are masked"
