"""NextToken pagination over an already sorted list.

By default the token is the offset of the next page. Lists that AWS pages by name (Kinesis shards, SQS
queues) pass `name_of`: the token is then the last name on the page and the next page starts after
it, so a name created or deleted between two calls neither shifts nor repeats the others (Kinesis's
ExclusiveStartShardId is that same kind of token). Those rows must be sorted by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from emulator.protocol.errors import validation_exception

T = TypeVar("T")


def _start(rows: Sequence[T], next_token: str | None, name_of: Callable[[T], str] | None) -> int:
    if not next_token:
        return 0
    if name_of is not None:
        return next((i for i, row in enumerate(rows) if name_of(row) > next_token), len(rows))
    try:
        return int(next_token)
    except ValueError:
        raise validation_exception(f"Invalid NextToken {next_token!r}") from None


def paginate(
    rows: Sequence[T],
    key: str,
    next_token: str | None,
    limit: int,
    name_of: Callable[[T], str] | None = None,
) -> dict[str, Any]:
    """`{key: this page}`, plus `NextToken` when more rows follow."""
    if limit < 1:
        raise validation_exception(
            f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1"
        )
    start = _start(rows, next_token, name_of)
    end = start + limit
    page: dict[str, Any] = {key: list(rows[start:end])}
    if end < len(rows):
        page["NextToken"] = str(end) if name_of is None else name_of(rows[end - 1])
    return page
