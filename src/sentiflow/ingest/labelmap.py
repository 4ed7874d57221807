"""A file's own labels onto the canonical sentiments: `--label-map '1-2:negative,3:neutral,
4-5:positive'` (numeric ranges, inclusive, or exact values), or, without a map, a column that
already holds positive / neutral / negative."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from sentiflow.errors import ValidationFailed
from sentiflow.models import SENTIMENTS

_RANGE: Final = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*-\s*([+-]?\d+(?:\.\d+)?)\s*")


@dataclass(frozen=True, slots=True)
class LabelMap:
    """Ranges (low, high, sentiment) and exact values (lower-cased) → sentiment."""

    ranges: tuple[tuple[float, float, str], ...] = ()
    exact: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str | None) -> LabelMap:
        if not spec:
            return cls()
        ranges: list[tuple[float, float, str]] = []
        exact: dict[str, str] = {}
        for entry in spec.split(","):
            key, sep, label = entry.rpartition(":")
            label = label.strip().lower()
            if not sep or not key.strip() or label not in SENTIMENTS:
                raise ValidationFailed(
                    f"--label-map entry {entry.strip()!r} is not VALUES:LABEL with LABEL one of "
                    f"{', '.join(SENTIMENTS)}; e.g. '1-2:negative,3:neutral,4-5:positive'",
                    field="label_map",
                )
            bounds = _RANGE.fullmatch(key)
            if bounds:
                ranges.append((float(bounds.group(1)), float(bounds.group(2)), label))
            else:
                exact[key.strip().lower()] = label
        return cls(tuple(ranges), exact)

    def sentiment(self, value: Any) -> str | None:
        """The canonical sentiment of `value`; None when empty; a ValueError naming the value
        and the map when it has no entry."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        text = str(value).strip().lower()
        if not self.ranges and not self.exact and text in SENTIMENTS:
            return text
        if text in self.exact:
            return self.exact[text]
        number = _number(value)
        if number is not None:
            for low, high, label in self.ranges:
                if low <= number <= high:
                    return label
            if number.is_integer() and str(int(number)) in self.exact:
                return self.exact[str(int(number))]
        if not self.ranges and not self.exact:
            raise ValueError(
                f"label {value!r} is not one of {', '.join(SENTIMENTS)}; pass --label-map "
                "(e.g. '1-2:negative,3:neutral,4-5:positive')"
            )
        raise ValueError(f"label {value!r} has no entry in --label-map; add one")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None
