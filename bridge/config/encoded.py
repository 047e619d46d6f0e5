"""Finding secrets written in a form anyone reads back: JSON string escapes, percent-encoding, UTF-16.

`redact` finds a secret as it is written. A sender may write it otherwise: PHP's `json_encode` writes `/`
as `\\/`, any JSON encoder may write a character as `\\u0041`, a URL percent-encodes (`%2F`), and a body
saved as UTF-16 reads, as UTF-8, as its ASCII with a NUL beside every character. A body or header journaled
with the secret so written holds it as surely as in clear: these readings of the text are searched too, and
the part of the text a secret was read from is found, whole escapes only, so that masking it leaves the rest
of the text (a JSON body's numbers, its spacing) as it was sent.

Only the escapes are visited one by one (the text between them is copied and searched at C speed): a large
body with a few escapes costs little more than one without.
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
_NULS = re.compile("\x00+")
# How many encodings deep a secret is looked for (a percent-encoded URL written in JSON is two); a layer only
# adds the readings that change the text, so a usual body costs one pass or none.
LAYERS = 3

Decoded = Iterator[tuple[str, int, int]]  # each character a match decodes to, with its span in the text read


@dataclass(frozen=True)
class Reading:
    """A text as read through one more layer of escapes, and where each of its characters came from."""

    text: str
    parent: Reading | None = None
    # Segments in order: (start here, start in the parent, end in the parent, one escaped character?). A copied
    # segment maps character for character; an escape is one character read from the parent's span.
    starts: tuple[int, ...] = ()
    segments: tuple[tuple[int, int, int, bool], ...] = ()

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that characters [start, end) of this reading were read from."""
        if self.parent is None:
            return start, end
        first, last = self._parent_span(start), self._parent_span(end - 1)
        return self.parent.source_span(first[0], last[1])

    def _parent_span(self, at: int) -> tuple[int, int]:
        here, parent_start, parent_end, escaped = self.segments[bisect_right(self.starts, at) - 1]
        if escaped:
            return parent_start, parent_end
        return parent_start + at - here, parent_start + at - here + 1


def _reading(parent: Reading, pattern: re.Pattern[str], decode: Callable[[re.Match[str]], Decoded]) -> Reading | None:
    """`parent` read through the escapes `pattern` finds, each decoded by `decode`; None when it has none."""
    text = parent.text
    if pattern.search(text) is None:
        return None
    pieces: list[str] = []
    starts: list[int] = []
    segments: list[tuple[int, int, int, bool]] = []
    here = done = 0
    for match in pattern.finditer(text):
        if match.start() > done:
            starts.append(here)
            segments.append((here, done, match.start(), False))
            pieces.append(text[done : match.start()])
            here += match.start() - done
        for char, start, end in decode(match):
            starts.append(here)
            segments.append((here, start, end, True))
            pieces.append(char)
            here += 1
        done = match.end()
    if done < len(text):
        starts.append(here)
        segments.append((here, done, len(text), False))
        pieces.append(text[done:])
    return Reading("".join(pieces), parent, tuple(starts), tuple(segments))


def _json_escape(match: re.Match[str]) -> Decoded:
    high, low, code, simple = match.groups()
    if simple is not None:
        yield _SIMPLE[simple], match.start(), match.end()
    elif code is not None:
        yield chr(int(code, 16)), match.start(), match.end()
    else:
        yield chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)), match.start(), match.end()


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


def json_unescaped(reading: Reading) -> Reading | None:
    """The reading with JSON's string escapes decoded (`\\/`, `\\n`, `\\u0041`); None when it has none."""
    return _reading(reading, _JSON_ESCAPE, _json_escape) if "\\" in reading.text else None


def percent_decoded(reading: Reading) -> Reading | None:
    """The reading with percent-encoding decoded (`%2F`, a UTF-8 `%C3%A9` as one character); None when it has none."""
    return _reading(reading, _PERCENT_RUN, _percent_run) if "%" in reading.text else None


def _dropped(match: re.Match[str]) -> Decoded:
    return iter(())


def without_nuls(reading: Reading) -> Reading | None:
    """The reading without NUL characters: UTF-16 read as UTF-8 (ASCII with a NUL beside every character)."""
    return _reading(reading, _NULS, _dropped) if "\x00" in reading.text else None


_DECODERS: tuple[Callable[[Reading], Reading | None], ...] = (json_unescaped, percent_decoded, without_nuls)


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


def encoded_spans(text: str, secrets: Sequence[str], fold: bool = False) -> list[tuple[int, int]]:
    """Where in `text` a secret is written with JSON escapes or percent-encoding, as (start, end) spans.

    `fold`: `text` was lowercased on its way here (a header name) and `secrets` are given lowercased.
    """
    spans: list[tuple[int, int]] = []
    layer, seen = [Reading(text)], {text}
    for _ in range(LAYERS):
        deeper = []
        for reading in layer:
            for decode in _DECODERS:
                decoded = decode(reading)
                if decoded is not None and decoded.text not in seen:  # it led where another reading did: done
                    seen.add(decoded.text)
                    spans.extend(_found(decoded, secrets, fold))
                    deeper.append(decoded)
        layer = deeper
    return spans
