"""What YAML 1.1 made of an unquoted scalar (`NO` the boolean false, `0700` the number 448), for errors that say so.

PyYAML reads `no`, `on`, `off`, `yes` as booleans, `0700` as octal, `16:00` as base 60 and an empty value as null:
a ticker NO or a Hong Kong ticker 0700 then fails as "Input should be a valid string", which tells nobody to quote
it, `max_orders_per_minute: on` became one order a minute (true is the number 1 to pydantic), `cancel_after: 1:30`
90 seconds and `value: 010` eight units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from bridge.config.secrets import is_secret_key

Path_ = tuple[str | int, ...]
_NUMBER_ERRORS = ("int_", "float_", "decimal_")  # pydantic error types refusing a boolean where a number goes
_MISSING: Any = object()
_OCTAL = re.compile(r"[-+]?0[0-7_]+")  # YAML 1.1's octal integer: a leading zero, then more digits


def _read_as(value: Any) -> str:
    return f"the boolean {str(value).lower()}" if isinstance(value, bool) else f"the number {value!r}"


def _quote(text: str) -> str:
    return f'write it in quotes: "{text}"'


def _secret(path: Path_) -> bool:
    """True when the setting holds a secret (`token`, `signing_secrets.0`, `options.api_key`): never quote it."""
    name = next((part for part in reversed(path) if isinstance(part, str)), "")
    return is_secret_key(name)


@dataclass
class PlainScalars:
    """The unquoted scalars YAML read as something other than text, by path, with their source text."""

    values: dict[Path_, tuple[str, Any]] = field(default_factory=dict)
    keys: dict[Path_, tuple[str, Any]] = field(default_factory=dict)

    def value(self, path: Path_, text: str, value: Any) -> None:
        """Remember a plain scalar value YAML read as null, a boolean or a number."""
        if value is None or isinstance(value, bool | int | float):
            self.values[path] = (text, value)

    def key(self, path: Path_, text: str, key: Any) -> None:
        """Remember a plain mapping key YAML read as a boolean or a number."""
        if isinstance(key, bool | int | float):
            self.keys[path] = (text, key)

    def hint(self, path: Path_, error_type: str) -> tuple[Path_, str] | None:
        """The path to show and a message saying how to write it, for a pydantic error this reading explains."""
        if path[-1:] == ("[key]",) and path[:-1] in self.keys and error_type == "string_type":
            text, key = self.keys[path[:-1]]
            return self.shown(path[:-1]), f"YAML reads the unquoted key {text} as {_read_as(key)}; {_quote(text)}"
        if path not in self.values:
            return None
        text, value = self.values[path]
        if error_type == "string_type":
            if value is None:
                return self.shown(path), "has no value (YAML reads an empty value as null); write one"
            if _secret(path):
                kind = "a boolean" if isinstance(value, bool) else "a number"
                return self.shown(path), f"YAML reads this unquoted value as {kind}; write it in quotes"
            return self.shown(path), f"YAML reads the unquoted {text} as {_read_as(value)}; {_quote(text)}"
        if isinstance(value, bool) and error_type.startswith(_NUMBER_ERRORS):
            return self.shown(path), self._not_a_number(text, value)
        return None

    def shown(self, path: Path_) -> Path_:
        """`path` with each key YAML read as a boolean or number written as in the file (`no`, not `0`)."""
        return tuple(self.keys[path[: i + 1]][0] if path[: i + 1] in self.keys else part for i, part in enumerate(path))

    def misread_numbers(self, validated: BaseModel, prefix: Path_) -> list[tuple[Path_, str]]:
        """Numbers that do not mean what was written: a YAML boolean (true as 1), base 60 (1:30 as 90) or octal."""
        found = []
        for path, (text, value) in self.values.items():
            message = self._misread(text, value)
            if message is not None and path[: len(prefix)] == prefix:
                result = _at(validated, path[len(prefix) :])
                if isinstance(result, int | float | Decimal) and not isinstance(result, bool):
                    found.append((path, message))
        return found

    @classmethod
    def _misread(cls, text: str, value: Any) -> str | None:
        if isinstance(value, bool):
            return cls._not_a_number(text, value)
        if not isinstance(value, int | float):
            return None
        if ":" in text:
            return (f"YAML reads the unquoted {text} as the base-60 number {value!r}, not {text}; write the number "
                    "you mean in plain digits")  # fmt: skip
        if _OCTAL.fullmatch(text):
            digits = text.replace("_", "").lstrip("+-").lstrip("0") or "0"
            return (f"YAML reads the unquoted {text} as the octal number {value!r}, not {digits}; write the number "
                    "you mean without the leading zero")  # fmt: skip
        return None

    @staticmethod
    def _not_a_number(text: str, value: bool) -> str:
        return f"YAML reads the unquoted {text} as {_read_as(value)}, not a number; write a number"


def _at(node: Any, parts: Path_) -> Any:
    """The validated value at `parts` (attribute, key or index), or a marker when there is none."""
    for part in parts:
        if isinstance(node, BaseModel) and isinstance(part, str):
            node = getattr(node, part, _MISSING)
        elif isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list | tuple) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return _MISSING
    return node
