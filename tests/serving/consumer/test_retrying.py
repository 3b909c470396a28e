"""serving.consumer.retrying: batch calls resend only what was not done, a bounded number of times, and
hand back what never was (so its records are reported failed, not lost)."""

import threading

from botocore.exceptions import ClientError, EndpointConnectionError

from serving.consumer.retrying import chunked, resend_in_chunks, resend_until_done


class FlakyBatchApi:
    """A batch call that leaves some entries undone on each call, as UnprocessedItems does."""

    def __init__(self, undone_per_call: list[set]) -> None:
        self.undone_per_call = undone_per_call
        self.calls: list[list] = []
        self._lock = threading.Lock()

    def __call__(self, entries: list) -> list:
        with self._lock:
            self.calls.append(list(entries))
            call = len(self.calls) - 1
            undone = self.undone_per_call[call] if call < len(self.undone_per_call) else set()
        return [entry for entry in entries if entry in undone]


def test_all_done_first_time_is_one_call():
    api = FlakyBatchApi([])
    assert resend_until_done(api, [1, 2, 3]) == []
    assert api.calls == [[1, 2, 3]]


def test_only_the_undone_entries_are_resent():
    api = FlakyBatchApi([{2, 4}, {4}])
    assert resend_until_done(api, [1, 2, 3, 4, 5]) == []
    assert api.calls == [[1, 2, 3, 4, 5], [2, 4], [4]]


def test_gives_up_after_max_attempts_and_returns_what_never_went_through():
    api = FlakyBatchApi([{"a", "b"}, {"b"}, {"b"}, {"b"}])
    assert resend_until_done(api, ["a", "b", "c"], max_attempts=3) == ["b"]
    assert len(api.calls) == 3


def test_a_call_that_fails_outright_counts_as_nothing_done():
    calls = []

    def failing(entries: list) -> list:
        calls.append(list(entries))
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "BatchWriteItem")
        if len(calls) == 2:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        return []

    assert resend_until_done(failing, ["x", "y"]) == []
    assert calls == [["x", "y"]] * 3


def test_a_call_that_always_fails_returns_every_entry():
    calls = []

    def down(entries: list) -> list:
        calls.append(entries)
        raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "BatchWriteItem")

    assert resend_until_done(down, ["x", "y"], max_attempts=2) == ["x", "y"]
    assert len(calls) == 2


def test_an_unexpected_error_is_not_swallowed():
    def broken(entries: list) -> list:
        raise KeyError("UnprocessedItems")

    try:
        resend_until_done(broken, ["x"])
    except KeyError:
        pass
    else:
        raise AssertionError("a bug in the send function must surface, not read as 'not done'")


def test_chunks_respect_the_limit_and_only_failed_entries_come_back():
    api = FlakyBatchApi([])
    never_done = {7, 40}  # one in each of the first two chunks

    def send(entries: list) -> list:
        api(entries)
        return [entry for entry in entries if entry in never_done]

    entries = list(range(60))
    assert sorted(resend_in_chunks(send, entries, chunk_size=25)) == [7, 40]
    first_calls = [call for call in api.calls if len(call) > 1]
    assert sorted(len(call) for call in first_calls) == [10, 25, 25]
    assert sorted(entry for call in first_calls for entry in call) == entries


def test_no_entries_no_calls():
    api = FlakyBatchApi([])
    assert resend_in_chunks(api, [], chunk_size=25) == []
    assert api.calls == []


def test_chunks_stay_within_a_byte_limit_as_well_as_a_count():
    sizes = [100, 100, 100, 250, 10, 10, 400, 5]
    chunks = chunked(sizes, chunk_size=3, max_bytes=300, size_of=lambda size: size)
    assert chunks == [[100, 100, 100], [250, 10, 10], [400], [5]]  # one entry over the limit goes alone
    assert chunked(list(range(7)), chunk_size=3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunked([], chunk_size=3) == []
