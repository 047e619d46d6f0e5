"""Finding secrets written in a form anyone reads back: JSON string escapes, percent-encoding, UTF-16.

`redact` finds a secret as it is written. A sender may write it otherwise: PHP's `json_encode` writes `/`
as `\\/`, any JSON encoder may write a character as `\\u0041`, a URL percent-encodes (`%2F`), and a body
saved as UTF-16 reads, as UTF-8, as its ASCII with a NUL beside every character. A body or header journaled
with the secret so written holds it as surely as in clear: these readings of the text are searched too, and
the part of the text a secret was read from is found, whole escapes only, so that masking it leaves the rest
of the text (a JSON body's numbers, its spacing) as it was sent.

Each reading is made and searched at C speed; only one a secret is found in is mapped back to the text, one
escape at a time: a large body full of escapes costs a few milliseconds.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

# Left to right as JSON reads them: `\\` is an escaped backslash, so the `u0041` after it is no escape. A surrogate
# pair is one character.
_JSON_ESCAPE = re.compile(
    r"\\(?:u(?:([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|([0-9a-fA-F]{4}))|([\"\\/bfnrt]))"
)
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_PERCENT_RUN = re.compile(r"(?:%[0-9a-fA-F]{2})+")
# A run of `%XX` that is not UTF-8 whole is decoded with each octet that begins no character kept as a lone
# surrogate (Python's `surrogateescape`, which marks exactly those `_percent_run` reads as written), and these then
# put back as written, a stretch at a time: one octet at a time in Python, 64 KiB of `%FF` in a stranger's header
# took some 100 ms.
_KEPT_OCTETS = re.compile("([\udc80-\udcff]+)")
_NULS = re.compile("\x00+")
# How many encodings deep a secret is looked for (a percent-encoded URL written in JSON is two); a layer only
# adds the readings that change the text, so a usual body costs one pass or none.
LAYERS = 3
# How many escapes one text may hold in all its readings together: each is decoded in Python, and a body crafted to
# be all escapes, read layer upon layer, held the event loop for most of a second (16 MB bodies, minutes); past it
# nothing is searched. As many as a text of the default max_body_bytes (64 KiB) holds, two characters each: Python's
# json and PHP's json_encode write every letter outside ASCII as an escape (an emoji as two), and at 4,096 a relay's
# alert with a message of a few thousand Cyrillic letters was journaled as a note. Reading that many costs some tens
# of milliseconds, what a stranger's 64 KiB of headers (each value read on its own) costs too, with no token: as
# often as `server.unauthenticated_journal_per_minute` lets one be journaled, a refusal past it being masked never.
MAX_ESCAPES = 32 * 1024


@dataclass
class Budget:
    """Escapes left to read for several texts together (the journaled headers of a request without a valid token)."""

    left: int


Decoded = Iterator[tuple[str, int, int]]  # each character a match decodes to, with its span in the text read


@dataclass(frozen=True)
class Escapes:
    """One way of writing characters: where its escapes are, what each reads as, with or without their spans."""

    marker: str  # no escape without it: a text without one is not read again
    pattern: re.Pattern[str]
    chars: Callable[[re.Match[str]], Decoded]
    text: Callable[[re.Match[str]], str] | str  # the same characters without their spans: the text alone, fast


class Reading:
    """A text as read through escapes, layer upon layer, and where each of its characters came from.

    Its text is made at C speed (`re.sub`); where each character came from is worked out, one escape at a
    time, only for a reading a secret is found in.
    """

    def __init__(self, text: str, parent: Reading | None = None, escapes: Escapes | None = None) -> None:
        self.text = text
        self.parent = parent
        self.escapes = escapes
        # Segments in order: (start here, start in the parent, end in the parent, one escaped character?). A
        # copied segment maps character for character; an escape is one character read from the parent's span.
        self._starts: list[int] = []
        self._segments: list[tuple[int, int, int, bool]] = []

    def read(self, escapes: Escapes) -> Reading | None:
        """This text read through `escapes`; None when it holds none."""
        if escapes.marker not in self.text or escapes.pattern.search(self.text) is None:
            return None
        return Reading(escapes.pattern.sub(escapes.text, self.text), self, escapes)

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that characters [start, end) of this reading were read from."""
        if self.parent is None or self.escapes is None:
            return start, end
        if not self._segments:
            self._map(self.parent.text, self.escapes)
        return self.parent.source_span(self._parent_span(start)[0], self._parent_span(end - 1)[1])

    def _parent_span(self, at: int) -> tuple[int, int]:
        here, parent_start, parent_end, escaped = self._segments[bisect_right(self._starts, at) - 1]
        if escaped:
            return parent_start, parent_end
        return parent_start + at - here, parent_start + at - here + 1

    def _map(self, text: str, escapes: Escapes) -> None:
        """Where each character came from in the parent's `text`, one escape at a time (only once a secret is found)."""
        here = done = 0
        for match in escapes.pattern.finditer(text):
            if match.start() > done:
                self._starts.append(here)
                self._segments.append((here, done, match.start(), False))
                here += match.start() - done
            for _char, start, end in escapes.chars(match):
                self._starts.append(here)
                self._segments.append((here, start, end, True))
                here += 1
            done = match.end()
        if done < len(text):
            self._starts.append(here)
            self._segments.append((here, done, len(text), False))


def _json_char(match: re.Match[str]) -> str:
    high, low, code, simple = match.groups()
    if simple is not None:
        return _SIMPLE[simple]
    if code is not None:
        return chr(int(code, 16))
    return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))


def _json_escape(match: re.Match[str]) -> Decoded:
    yield _json_char(match), match.start(), match.end()


def _utf8_length(lead: int) -> int:
    return 2 if 0xC0 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if 0xF0 <= lead < 0xF8 else 1


def _percent_run(match: re.Match[str]) -> Decoded:
    """The characters of a run of `%XX`: a UTF-8 sequence as one; an octet that begins none as it is written."""
    octets = bytes.fromhex(match.group().replace("%", ""))
    at, base = 0, match.start()
    while at < len(octets):
        size = _utf8_length(octets[at])
        try:
            char = octets[at : at + size].decode("utf-8")
        except UnicodeDecodeError:
            char = ""
        if len(char) == 1:
            yield char, base + 3 * at, base + 3 * (at + size)
            at += size
        else:
            for offset in range(3):  # `%XX` read as written
                yield match.string[base + 3 * at + offset], base + 3 * at + offset, base + 3 * at + offset + 1
            at += 1


def _percent_text(match: re.Match[str]) -> str:
    run = match.group()
    text = bytes.fromhex(run.replace("%", "")).decode("utf-8", "surrogateescape")
    if _KEPT_OCTETS.search(text) is None:  # the usual run is whole characters: read at once
        return text
    # As `_percent_run` reads it: the UTF-8 in it decoded, every other octet as written.
    parts = _KEPT_OCTETS.split(text)
    octets = 0  # read so far: each part at an odd index is octets kept, one surrogate each
    for index, part in enumerate(parts):
        if index % 2:
            parts[index] = run[3 * octets : 3 * (octets + len(part))]
            octets += len(part)
        else:
            octets += len(part.encode())
    return "".join(parts)


def _no_chars(match: re.Match[str]) -> Decoded:
    return iter(())


# JSON's string escapes (`\\/`, `\\n`, `\\u0041`); percent-encoding (`%2F`, a UTF-8 `%C3%A9` as one character);
# UTF-16 read as UTF-8 (ASCII with a NUL beside every character), read without its NULs.
JSON = Escapes("\\", _JSON_ESCAPE, _json_escape, _json_char)
PERCENT = Escapes("%", _PERCENT_RUN, _percent_run, _percent_text)
UTF16 = Escapes("\x00", _NULS, _no_chars, "")  # removed at C speed: a function call a NUL cost a stranger as much
_ALL = (JSON, PERCENT, UTF16)


def _found(reading: Reading, secrets: Sequence[str], fold: bool) -> Iterator[tuple[int, int]]:
    """Spans of the original text a secret is read from in `reading`."""
    text = reading.text
    if fold:
        lowered = text.lower()
        # Folded one character at a time when a character's lowercase is longer: positions stay the reading's.
        text = lowered if len(lowered) == len(text) else "".join(c if len(c.lower()) > 1 else c.lower() for c in text)
    for secret in secrets:
        if len(secret) < 4:  # as `redact`: shorter ones are not masked anywhere
            continue
        at = text.find(secret)
        while at >= 0:
            yield reading.source_span(at, at + len(secret))
            at = text.find(secret, at + 1)


def encoded_spans(
    text: str, secrets: Sequence[str], fold: bool = False, budget: Budget | None = None
) -> list[tuple[int, int]] | None:
    """Where in `text` a secret is written with JSON escapes or percent-encoding, as (start, end) spans.

    None when `text` holds more escapes than MAX_ESCAPES in its readings: too many to read, so whether a
    secret is written in them is not known. `fold`: `text` was lowercased on its way here (a header name)
    and `secrets` are given lowercased. `budget`: escapes left for this text and others read with it; what this
    one reads is taken from it, and None returned when it holds more than are left.
    """
    most = MAX_ESCAPES if budget is None else min(budget.left, MAX_ESCAPES)
    spans: list[tuple[int, int]] = []
    layer, seen, spent = [Reading(text)], {text}, 0
    for _ in range(LAYERS):
        deeper = []
        for reading in layer:
            for escapes in _ALL:
                spent += reading.text.count(escapes.marker)  # at most its escapes, counted at C speed
                if spent > most:
                    _spend(budget, spent)
                    return None
                decoded = reading.read(escapes)
                if decoded is not None and decoded.text not in seen:  # it led where another reading did: done
                    seen.add(decoded.text)
                    spans.extend(_found(decoded, secrets, fold))
                    deeper.append(decoded)
        layer = deeper
    _spend(budget, spent)
    return spans


def _spend(budget: Budget | None, escapes: int) -> None:
    if budget is not None:
        budget.left = max(budget.left - escapes, 0)
