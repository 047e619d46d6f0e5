"""Why a webhook body is not JSON, said so that whoever wrote the alert message can fix it."""

from __future__ import annotations

import json
import re
import unicodedata

EXAMPLE = '{"ticker": "AMD", "action": "buy"}'
# What word processors, notes apps, chat clients and CJK keyboards (fullwidth) type for " and ': pasted into an
# alert, JSON takes none of them.
SMART_QUOTES = frozenset("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\u2018\u2019\u201a\u201b\u2032\uff02\uff07")
# `ticker=AMD&action=buy`: what Python's `requests.post(url, data={...})` and PHP's http_build_query send.
_FORM = re.compile(r"[\w.%+\[\]-]+=[^&]*(&[\w.%+\[\]-]+=[^&]*)*")


def _where(text: str, pos: int) -> str:
    """`line L column C` of a character index, counted as the JSON reader counts them."""
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    return f"line {line} column {column}"


def _before(text: str, pos: int) -> int:
    """The index of the last character before `pos` that is not whitespace, or -1."""
    index = pos - 1
    while index >= 0 and text[index].isspace():
        index -= 1
    return index


def _comma_in_number(text: str, comma: int) -> bool:
    """Whether the character at `comma` is a comma right after a digit: inside a number, not between fields."""
    return comma >= 1 and text[comma] == "," and text[comma - 1].isdigit()


def _number_start(text: str, index: int) -> int:
    """Where the number holding `index` begins (digits, points, commas and a sign back from it)."""
    while index > 0 and (text[index - 1].isdigit() or text[index - 1] in ".,-"):
        index -= 1
    return index


def _number_end(text: str, index: int) -> int:
    """Where the number holding `index` ends (digits, points and commas on from it)."""
    while index < len(text) and (text[index].isdigit() or text[index] in ".,"):
        index += 1
    return index


def _found(text: str, exc: json.JSONDecodeError) -> str | None:
    """The mistake behind a syntax error, when it is one of the common ones, and how to fix it."""
    pos = exc.pos
    char = text[pos] if pos < len(text) else ""
    previous = _before(text, pos)
    if _FORM.fullmatch(text.strip()) or "content-disposition: form-data" in text[:500].lower():
        return (
            "it is a form (ticker=...&action=...), not JSON: send the fields as JSON, with Python's "
            "requests.post(url, json={...}) rather than data=, or PHP's json_encode (Symfony's 'json' option "
            f"rather than 'body'), e.g. {EXAMPLE}"
        )
    if '"={' in text:  # Pine's syminfo.tickerid with chart settings, pasted into the message as it is
        return (
            'it holds a Pine ticker id (={"session": ...}, what syminfo.tickerid gives on a chart with an extended '
            "session or adjustments), whose quotes end the ticker's text; send syminfo.ticker, e.g. AAPL"
        )
    first = text.lstrip()[:1]
    # Not even the start of a JSON object (a default alert message, "2 contracts buy AAPL", "true breakout"):
    # the reader's complaint would be about whatever word it stopped at.
    if first and first not in "{[\"'" and first not in SMART_QUOTES:
        return (f"it is plain text; the alert message is sent as written, so write it as a JSON object such as "
                f"{EXAMPLE}")  # fmt: skip
    # `"buy”` reads as a string that never ends: the smart quote that was to close it is somewhere after.
    closing = exc.msg.startswith("Unterminated string") and any(c in SMART_QUOTES for c in text[pos:])
    if char in SMART_QUOTES or closing:
        at = pos if char in SMART_QUOTES else next(i for i in range(pos, len(text)) if text[i] in SMART_QUOTES)
        return (f"it holds a smart quote {text[at]} at {_where(text, at)}, as a document or notes app types them; "
                'retype every quote as a straight one (")')  # fmt: skip
    if char == "'":
        return (f"it has a single quote at {_where(text, pos)}; JSON names and text take double quotes (\"). "
                "From Python, send json.dumps(signal) or requests' json=, not str() of a dict")  # fmt: skip
    if char in "}]" and previous >= 0 and text[previous] == ",":
        return (f"remove the trailing comma at {_where(text, previous)}: JSON allows no trailing commas "
                "after the last field")  # fmt: skip
    if exc.msg.startswith("Expecting property name") and char.isdigit() and _comma_in_number(text, previous):
        # `"price": 1,234.50` unquoted (Pine's str.tostring(close, "#,##0.00")) or a decimal comma `1,5`: the
        # comma ends the number, and the reader only says it expected a field name after it.
        shown = text[_number_start(text, previous) : _number_end(text, pos)].rstrip(",")
        return (f"it holds {shown}, a number written with a comma, at {_where(text, previous)}; write numbers with "
                "a decimal point and no thousands separator, e.g. 1234.5")  # fmt: skip
    if exc.msg == "Expecting ',' delimiter" and char == '"':
        return f"a comma is missing between two fields, after {_where(text, previous + 1)}"
    if exc.msg == "Invalid control character at" and char:
        # Enter or Tab typed inside a quoted text: JSON takes them only written as \n and \t.
        what = {"\n": "a line break", "\r": "a line break", "\t": "a tab"}.get(
            char, f"control character U+{ord(char):04X}"
        )
        return (f"it has {what} inside a quoted text at {_where(text, pos)}; keep each text on one line, "
                "writing \\n or \\t where you need one")  # fmt: skip
    if char and not char.isascii():
        name = unicodedata.name(char, "a control character")
        kind = "a plain space" if char.isspace() or unicodedata.category(char) == "Cf" else "what JSON takes"
        return (f"it holds U+{ord(char):04X} {name} at {_where(text, pos)}, pasted with the text; "
                f"retype it as {kind}")  # fmt: skip
    if exc.msg == "Extra data":
        return (f"there is more after the JSON object, at {_where(text, pos)}; send one object per alert, "
                "with no text or comment after it")  # fmt: skip
    return None


def explain(text: str, exc: json.JSONDecodeError) -> str:
    """The malformed-json message for `text`: the mistake and its fix where it is a common one, else where it is."""
    found = _found(text, exc)
    if found is not None:
        return f"the body is not valid JSON: {found}"
    return (f"the body is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg}); check for trailing "
            "commas, smart quotes and unquoted text")  # fmt: skip
