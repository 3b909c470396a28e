"""Retry policy shared by the consumer's calls: capped, jittered exponential backoff (tenacity)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

BACKOFF = wait_random_exponential(multiplier=0.05, max=1.0)
log = logging.getLogger(__name__)


class NotAllDone(Exception):
    """Some entries of a batch call were not processed; tenacity retries with only those entries."""


def resend_until_done(send: Callable[[list], list], entries: list, max_attempts: int = 5) -> list:
    """Call send(entries) -> entries not done, resending only those; return the ones never done.

    A call that fails outright (after botocore's own retries) counts as nothing done this attempt.
    """
    pending = list(entries)

    def once() -> None:
        nonlocal pending
        try:
            pending = send(pending)
        except (BotoCoreError, ClientError) as error:
            raise NotAllDone(f"{len(pending)} entries: {error}") from error
        if pending:
            raise NotAllDone(f"{len(pending)} entries not processed")

    try:
        for attempt in Retrying(
            stop=stop_after_attempt(max_attempts), wait=BACKOFF, retry=retry_if_exception_type(NotAllDone)
        ):
            with attempt:
                once()
    except RetryError as gave_up:
        # the caller reports these entries' records as failed (Lambda redelivers them); say why here
        log.warning("gave up after %d attempts: %s", max_attempts, gave_up.last_attempt.exception())
    return pending


# Chunks of one batch call go out concurrently: the calls wait on the network, not on this process.
_CHUNK_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="chunk")


def chunked(
    entries: list, chunk_size: int, max_bytes: int | None = None, size_of: Callable[[object], int] = len
) -> list[list]:
    """Consecutive chunks of at most chunk_size entries and, given max_bytes, at most that many bytes
    (by size_of) each; an entry bigger than max_bytes on its own goes alone, for the service to refuse."""
    chunks: list[list] = []
    chunk: list = []
    total = 0
    for entry in entries:
        size = size_of(entry) if max_bytes is not None else 0
        if chunk and (len(chunk) >= chunk_size or (max_bytes is not None and total + size > max_bytes)):
            chunks.append(chunk)
            chunk, total = [], 0
        chunk.append(entry)
        total += size
    if chunk:
        chunks.append(chunk)
    return chunks


def resend_in_chunks(
    send: Callable[[list], list],
    entries: list,
    chunk_size: int,
    max_bytes: int | None = None,
    size_of: Callable[[object], int] = len,
) -> list:
    """resend_until_done over chunks within a batch API's limits (see chunked), sent concurrently."""
    chunks = chunked(entries, chunk_size, max_bytes, size_of)
    if len(chunks) <= 1:
        return resend_until_done(send, chunks[0]) if chunks else []
    return [
        entry
        for never in _CHUNK_POOL.map(lambda chunk: resend_until_done(send, chunk), chunks)
        for entry in never
    ]
