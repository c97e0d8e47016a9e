""" "Did you mean" suggestions for misspelt keys, columns and references."""

from __future__ import annotations

from collections.abc import Iterable

MAX_SUGGESTION_DISTANCE = 2


def edit_distance(left: str, right: str, limit: int = MAX_SUGGESTION_DISTANCE) -> int:
    """Levenshtein distance, giving up early (returning `limit + 1`) once it must exceed `limit`."""
    if abs(len(left) - len(right)) > limit:
        return limit + 1
    previous = list(range(len(right) + 1))
    for i, left_char in enumerate(left, start=1):
        current = [i]
        for j, right_char in enumerate(right, start=1):
            current.append(
                min(
                    previous[j] + 1,
                    current[j - 1] + 1,
                    previous[j - 1] + (left_char != right_char),
                )
            )
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def closest(
    word: str, candidates: Iterable[str], limit: int = MAX_SUGGESTION_DISTANCE
) -> str | None:
    """The candidate nearest to `word` (case-insensitive) within `limit` edits, or None."""
    best: tuple[int, str] | None = None
    lowered = word.lower()
    for candidate in candidates:
        distance = edit_distance(lowered, candidate.lower(), limit)
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None
