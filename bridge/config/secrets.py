"""`${NAME}` / `${NAME:-default}` interpolation (`$${` for a literal `${`) and redaction of secret values."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from bridge.config.encoded import MAX_ESCAPES, Budget, encoded_spans

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
ESCAPE = "$${"  # a literal `${` (docker-compose's way): a password may hold one
# Read left to right, an escape before a reference: `$${NAME}` is the text `${NAME}`, never a reference.
_TOKEN = re.compile(r"\$\$\{|" + _REFERENCE.pattern)
_SECRET_KEY = re.compile(
    r"token|secret|passw(or)?d|passphrase|private|credential|key[_-]?id|(api|app|access|consumer|client|auth)[_-]?key",
    re.IGNORECASE,
)
# A name's words: `X-Api-Key`, `app_key` and `appKey` all end in the word `key`.
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
MASK = "***"
NOT_SET = "is not set; export it"  # how a missing variable's error reads (the reload adds what a daemon needs)


_SHELL_STYLE = re.compile(r"\$[A-Z_][A-Z0-9_]*")  # `$NAME` in capitals, the whole value: meant as a reference
BAD_REFERENCE = (
    "is not read from the environment as written: write ${NAME} or ${NAME:-default} (NAME: letters, digits and _)"
)


class BadReference(ValueError):
    """A value that means to name an environment variable but is not a reference the reader takes."""


class MissingVariable(BadReference):
    """An environment variable named in the config is not set and has no default."""


def _references(text: str) -> list[re.Match[str]]:
    """The `${NAME}` / `${NAME:-default}` references in `text`, leaving out what `$${` escapes."""
    return [m for m in _TOKEN.finditer(text) if m.group(1) is not None]


def interpolate(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every `${NAME}` / `${NAME:-default}` in `text` from the environment; `$${` is a literal `${`.

    `$NAME` alone, `${NAME:default}`, `${NAME-default}`, `${my-name}` or an unclosed `${` raise BadReference: they
    stayed in the value letter for letter, and a token written so was a URL anyone reading the file knew.
    """
    env = os.environ if environ is None else environ
    unread = _TOKEN.sub("", text)
    nested = any("${" in (m.group(2) or "").replace(ESCAPE, "") for m in _references(text))
    if "${" in unread or nested or _SHELL_STYLE.fullmatch(text):
        raise BadReference(BAD_REFERENCE)  # the value is not quoted: it may be a secret

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name is None:
            return "${"
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise MissingVariable(f"environment variable {name} {NOT_SET} or write ${{{name}:-default}}")
            return default.replace(ESCAPE, "${")
        if "\r" in value:  # no setting holds one: a key so read was refused by its venue at every connect
            raise BadReference(f"environment variable {name} holds a carriage return (its file was saved with "
                               "Windows line ends); save that file with Unix line ends (dos2unix FILE)")  # fmt: skip
        return value

    return _TOKEN.sub(substitute, text)


def variable_names(text: str) -> list[str]:
    """The environment variables `text` reads (`${NAME}`, `${NAME:-default}`), each once."""
    return list(dict.fromkeys(m.group(1) for m in _references(text)))


def missing_variables(text: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The variables `text` names without a default that are not set, each once."""
    env = os.environ if environ is None else environ
    return list(dict.fromkeys(m.group(1) for m in _references(text) if m.group(2) is None and m.group(1) not in env))


def empty_variables(text: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The variables `text` names without a default that are set to nothing (an env file's `NAME=` line)."""
    env = os.environ if environ is None else environ
    return [m.group(1) for m in _references(text) if m.group(2) is None and env.get(m.group(1)) == ""]


def padding(value: str) -> str | None:
    """What `value` has at an end that no credential does ("a line break at its end"), else None."""
    for end, edge in (("end", value[-1:]), ("start", value[:1])):
        if edge.isspace():
            kind = "a line break" if edge in "\r\n" else "a space"
            return f"{kind} at its {end}"
    return None


def padded_variables(text: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The variables `text` names whose values start or end with a space or line break."""
    env = os.environ if environ is None else environ
    return [name for name in variable_names(text) if padding(env.get(name) or "") is not None]


def is_secret_key(key: str) -> bool:
    """True for option (and request header) names that conventionally hold credentials.

    A name whose last word is `key` is one (`app_key`, `consumer_key`, `X-Api-Key`), but for an idempotency
    key: that header is journaled, hashed, to spot a resend.
    """
    if _SECRET_KEY.search(key):
        return True
    words = [word.lower() for word in _WORDS.findall(key)]
    return words[-1:] == ["key"] and words[-2:-1] != ["idempotency"]


def mask(secret: str) -> str:
    """Show only the last four characters of a secret (`…cdef`)."""
    return "…" + secret[-4:] if len(secret) >= 12 else MASK


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of any secret in `text`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


def redact_encoded(text: str, secrets: Sequence[str], fold: bool = False, budget: Budget | None = None) -> str:
    """`text` with every secret masked, whether written as it is or with JSON escapes or percent-encoding.

    For what a sender wrote (a body, a header): PHP's json_encode writes `/` as `\\/`, any JSON encoder may write
    a character as `\\u0041`, a URL writes `%2F`, a body saved as UTF-16 holds a NUL beside every ASCII character,
    and a secret so written is read back by anyone.
    `fold`: `text` was lowercased on its way here (a header name) and `secrets` are given lowercased. A text
    holding more escapes than can be read in reasonable time (MAX_ESCAPES) is replaced whole, saying so; so is one
    holding more than are left of `budget`, shared by the texts of one request (`encoded_spans`).
    """
    text = redact(text, secrets)
    if "\\" not in text and "%" not in text and "\x00" not in text:  # nothing escaped: the usual body costs no more
        return text
    spans = encoded_spans(text, secrets, fold, budget)
    if spans is None:  # too many escapes to read them all: any could hold a secret, so none is kept
        if budget is not None:
            left = "more escapes than were left to read for this request"
            return f"{MASK} ({len(text)} characters holding {left}, not kept)"
        return f"{MASK} ({len(text)} characters holding more than {MAX_ESCAPES} escapes, not kept)"
    return _masked(text, spans)


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each span (overlapping ones as one) replaced by the mask."""
    if not spans:
        return text
    parts, done = [], 0
    for start, end in sorted(spans):
        if end <= done:
            continue
        if start >= done:
            parts += [text[done:start], MASK]
        done = end  # a span overlapping the last one only makes its mask cover more
    parts.append(text[done:])
    return "".join(parts)


class HeldSecrets:
    """Every secret value held since the start, longest first: one a reload replaced is a secret still.

    A broker built with the old key (a queued job's, a runtime a reload retired) may quote it after the
    reload, and a notice queued before it may name the old webhook URL. Each value is kept once, so reloading
    the same values again and again adds nothing.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._known: set[str] = set()
        self._values: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Hold these too; the ones held already stay."""
        new = {s for s in secrets if s} - self._known
        if new:
            self._known |= new
            # Longest first, so a secret containing another is replaced whole.
            self._values = tuple(sorted(self._known, key=len, reverse=True))

    def values(self) -> tuple[str, ...]:
        """Every secret held, longest first."""
        return self._values


def redacted_json(value: Any, secrets: Sequence[str], numbers: bool = False, **dumps: Any) -> str:
    """`value` as JSON text with every secret in its strings (and `numbers`) masked (`redact_values`); still JSON.

    On the webhook path: the text is only rebuilt when a secret occurs in it (a secret inside a string
    shows in the text as its own JSON escape, so this check misses none), or when a string holds an escape
    or a `%`, in which a secret may be written percent-encoded or escaped once more.
    """
    text = json.dumps(value, **dumps)
    return json.dumps(redact_values(value, secrets, numbers), **dumps) if _may_hold(text, secrets) else text


def redacted_copy(value: Any, secrets: Sequence[str], numbers: bool = False) -> Any:
    """`value` (parsed JSON) itself when no secret may be in it, else a copy with them masked (`redact_values`)."""
    return redact_values(value, secrets, numbers) if _may_hold(json.dumps(value, default=str), secrets) else value


def _may_hold(text: str, secrets: Sequence[str]) -> bool:
    """Whether JSON text may hold a secret: in clear, or in a string with a backslash, a `%` or a NUL in it.

    Those three are what `redact_encoded` reads escapes by; JSON writes them `\\\\`, `%` and `\\u0000`. Any other
    escape in the text is JSON's own (a newline, a letter outside ASCII): no sender's, and no reason to walk it all.
    """
    if "\\\\" in text or "%" in text or "\\u0000" in text:
        return True
    return any(len(secret) >= 4 and _as_json(secret) in text for secret in secrets)


@lru_cache(maxsize=256)
def _as_json(secret: str) -> str:
    """`secret` as it shows inside a JSON string (made once: this runs for every webhook)."""
    return json.dumps(secret)[1:-1]


def redact_values(value: Any, secrets: Sequence[str], numbers: bool = False) -> Any:
    """`value` (parsed JSON) with every secret in its strings, keys included, masked; with `numbers`, in numbers too.

    For JSON that is read back: masking the text instead could cut through a number (a four-digit
    passphrase inside a price) and leave JSON that no longer parses. A string is a sender's text: a secret
    percent-encoded in it (a URL) or escaped is masked too (`redact_encoded`). With `numbers`, a number whose
    digits hold a secret (a token of digits sent as a JSON number) becomes the string it reads as, masked: only
    for values nothing acts on, as a number that should be a price or a quantity no longer is one.
    """
    if isinstance(value, str):
        return redact_encoded(value, secrets)
    if isinstance(value, dict):
        return {redact_encoded(str(key), secrets): redact_values(item, secrets, numbers) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_values(item, secrets, numbers) for item in value]
    if numbers and isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        written = str(value)
        masked = redact(written, secrets)
        return value if masked == written else masked
    return value
