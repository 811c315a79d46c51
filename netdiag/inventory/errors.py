"""The one exception of the inventory layer, and where an error was found."""

from __future__ import annotations

from dataclasses import dataclass


class InventoryError(Exception):
    """A source or ``--limit`` that cannot be used; the message names file and line."""


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a source, rendered as ``hosts.ini:12`` (plus a YAML key path when there is one)."""

    source: str
    line: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        text = self.source if self.line is None else f"{self.source}:{self.line}"
        return text if self.path is None else f"{text}: {self.path}"

    def error(self, message: str) -> InventoryError:
        return InventoryError(f"{self}: {message}")
