"""A review-site export as users bring it: `Restaurant Name, Reviewer, Review, Rating,
Metadata, Time, Pictures`, reviews spanning lines inside quotes, `M/D/YYYY H:MM` times, a 1-5
rating and some empty reviews."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

GOOD = [
    "Loved the biryani, the staff were warm and quick.",
    "Great ambience and delicious food.\nWill come back with friends!",
    "Excellent service,\n\nthe best paneer I have had.",
]
BAD = [
    "Terrible service, cold food and rude staff.",
    'Awful.\nWaited an hour and the order was wrong. "Never again."',
    "Worst meal this year, dirty tables.",
]
MEH = ["It was okay, nothing special.", "Average place.\nPrices are fine."]


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    review: str
    rating: int
    at: datetime


def write_reviews(path: Path, n: int = 300, *, seed: int = 7) -> list[Row]:
    """Write `n` rows; every tenth review is empty. Returns the rows, with their first line."""
    rng = random.Random(seed)
    start = datetime(2019, 1, 1, tzinfo=UTC)
    rows: list[Row] = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["Restaurant Name", "Reviewer", "Review", "Rating", "Metadata", "Time", "Pictures"]
        )
        line = 2
        for i in range(n):
            rating = rng.randint(1, 5)
            pool = BAD if rating <= 2 else MEH if rating == 3 else GOOD
            review = "" if i % 10 == 9 else f"{rng.choice(pool)} (#{i})"
            at = start + timedelta(days=rng.randint(0, 360), minutes=rng.randint(0, 1439))
            writer.writerow(
                [
                    f"Place {i % 7}",
                    f"Reviewer {i}",
                    review,
                    rating,
                    f"{rng.randint(1, 40)} Reviews , {rng.randint(0, 9)} Followers",
                    f"{at.month}/{at.day}/{at.year} {at.hour}:{at.minute:02d}",
                    rng.randint(0, 3),
                ]
            )
            rows.append(Row(line, review, rating, at))
            line += review.count("\n") + 1
    return rows
