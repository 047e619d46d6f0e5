"""Finding secrets written in a form anyone reads back: JSON string escapes and percent-encoding.

`redact` finds a secret as it is written. A sender may write it otherwise: PHP's `json_encode` writes `/`
as `\\/`, any JSON encoder may write a character as `\\u0041`, and a URL percent-encodes (`%2F`). A body or
header journaled with the secret so written holds it as surely as in clear: these readings of the text are
searched too, and the part of the text a secret was read from is found, whole escapes only, so that masking
it leaves the rest of the text (a JSON body's numbers, its spacing) as it was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")
# How many encodings deep a secret is looked for (a percent-encoded URL written in JSON is two); each layer
# only adds the readings that change the text, so a usual body costs one pass or none.
LAYERS = 3


@dataclass(frozen=True)
class Reading:
    """Text as read through some escapes: each character with the span of the original text it came from."""

    chars: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> Reading:
        """`text` as written: every character its own span."""
        return cls(tuple(text), tuple(range(len(text))), tuple(range(1, len(text) + 1)))


class _Builder:
    def __init__(self) -> None:
        self.chars: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, char: str, start: int, end: int) -> None:
        self.chars.append(char)
        self.starts.append(start)
        self.ends.append(end)

    def reading(self) -> Reading:
        return Reading(tuple(self.chars), tuple(self.starts), tuple(self.ends))


def _hex_at(chars: Sequence[str], at: int, count: int) -> int | None:
    digits = chars[at : at + count]
    if len(digits) != count or not all(d in _HEX for d in digits):
        return None
    return int("".join(digits), 16)


def json_unescaped(reading: Reading) -> Reading:
    """The reading with JSON's string escapes decoded (`\\/`, `\\n`, `\\u0041`, a surrogate pair as one character)."""
    chars, starts, ends = reading.chars, reading.starts, reading.ends
    out, at = _Builder(), 0
    while at < len(chars):
        nxt = chars[at + 1] if at + 1 < len(chars) else ""
        if chars[at] != "\\" or not nxt:
            out.add(chars[at], starts[at], ends[at])
            at += 1
        elif nxt in _ESCAPES:
            out.add(_ESCAPES[nxt], starts[at], ends[at + 1])
            at += 2
        elif nxt == "u" and (code := _hex_at(chars, at + 2, 4)) is not None:
            low = _hex_at(chars, at + 8, 4) if chars[at + 6 : at + 8] == ("\\", "u") else None
            if 0xD800 <= code < 0xDC00 and low is not None and 0xDC00 <= low < 0xE000:
                out.add(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), starts[at], ends[at + 11])
                at += 12
            else:
                out.add(chr(code), starts[at], ends[at + 5])
                at += 6
        else:  # not an escape JSON knows: read as written
            out.add(chars[at], starts[at], ends[at])
            at += 1
    return out.reading()


def _utf8_length(lead: int) -> int:
    return 2 if 0xC0 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if 0xF0 <= lead < 0xF8 else 1


def percent_decoded(reading: Reading) -> Reading:
    """The reading with percent-encoding decoded (`%2F`, and a UTF-8 sequence `%C3%A9` as one character)."""
    chars, starts, ends = reading.chars, reading.starts, reading.ends
    out, at = _Builder(), 0
    while at < len(chars):
        lead = _hex_at(chars, at + 1, 2) if chars[at] == "%" else None
        if lead is None:
            out.add(chars[at], starts[at], ends[at])
            at += 1
            continue
        size = _utf8_length(lead)
        octets = [lead]
        for more in range(1, size):
            octet = _hex_at(chars, at + 3 * more + 1, 2) if chars[at + 3 * more : at + 3 * more + 1] == ("%",) else None
            if octet is None:
                break
            octets.append(octet)
        try:
            char = bytes(octets).decode("utf-8")
        except UnicodeDecodeError:
            char = ""
        if len(char) == 1:
            out.add(char, starts[at], ends[at + 3 * size - 1])
            at += 3 * size
        else:  # not a character's UTF-8: read as written
            out.add(chars[at], starts[at], ends[at])
            at += 1
    return out.reading()


_DECODERS: tuple[Callable[[Reading], Reading], ...] = (json_unescaped, percent_decoded)


def _found(reading: Reading, secrets: Sequence[str], fold: bool) -> list[tuple[int, int]]:
    """Spans of the original text a secret is read from in `reading`."""
    # Folded one character at a time, so that positions stay those of the reading.
    chars = [c.lower() if fold and len(c.lower()) == 1 else c for c in reading.chars]
    text, spans = "".join(chars), []
    for secret in secrets:
        if len(secret) < 4:  # as `redact`: shorter ones are not masked anywhere
            continue
        at = text.find(secret)
        while at >= 0:
            spans.append((reading.starts[at], reading.ends[at + len(secret) - 1]))
            at = text.find(secret, at + 1)
    return spans


def encoded_spans(text: str, secrets: Sequence[str], fold: bool = False) -> list[tuple[int, int]]:
    """Where in `text` a secret is written with JSON escapes or percent-encoding, as (start, end) spans.

    `fold`: `text` was lowercased on its way here (a header name) and `secrets` are given lowercased.
    """
    spans: list[tuple[int, int]] = []
    layer, seen = [Reading.of(text)], {text}
    for _ in range(LAYERS):
        deeper = []
        for reading in layer:
            for decode in _DECODERS:
                decoded = decode(reading)
                key = "".join(decoded.chars)
                if key not in seen:  # a decoder that changed nothing (or led where another did) adds nothing
                    seen.add(key)
                    spans.extend(_found(decoded, secrets, fold))
                    deeper.append(decoded)
        layer = deeper
    return spans
