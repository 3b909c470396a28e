"""NextToken pagination over an already sorted list: the token is the offset of the next page."""

from __future__ import annotations

from emulator.protocol.errors import validation_exception


def paginate(rows: list[dict], key: str, next_token: str | None, limit: int) -> dict:
    """`{key: this page}`, plus `NextToken` when more rows follow."""
    try:
        start = int(next_token or 0)
    except ValueError:
        raise validation_exception(f"Invalid NextToken {next_token!r}") from None
    page: dict = {key: rows[start : start + limit]}
    if start + limit < len(rows):
        page["NextToken"] = str(start + limit)
    return page
