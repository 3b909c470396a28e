"""The Kinesis Producer Library's aggregated record format, in pure Python (the Lambda zip has no
compiled protobuf runtime).

An aggregate is MAGIC, then the protobuf bytes of

    AggregatedRecord {repeated string partition_key_table = 1; repeated string explicit_hash_key_table = 2;
                      repeated Record records = 3;}
    Record {required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
            required bytes data = 3; repeated Tag tags = 4;}

then the MD5 of those protobuf bytes. As the KPL's deaggregators do, data without the magic or with a
wrong digest is a plain record (`deaggregate` returns None); an aggregate whose digest is right but
whose protobuf is not is damaged (`DamagedAggregate` says why).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import NamedTuple

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_BYTES = 16
# One Kinesis PUT payload unit (data plus partition key): a bigger aggregate costs more units.
AGGREGATE_BYTES = 25 * 1024
MAX_RECORDS_PER_AGGREGATE = 1_000

_VARINT, _LENGTH_DELIMITED = 0, 2
_FIXED_BYTES = {1: 8, 5: 4}  # wire types 1 (64-bit) and 5 (32-bit)


class DamagedAggregate(ValueError):
    """The data is marked as an aggregate (magic and digest match) but its contents cannot be read."""


class UserRecord(NamedTuple):  # a tuple: built once per user record, on the consumer's hot path
    partition_key: str
    data: bytes
    explicit_hash_key: str | None = None


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _record_bytes(key_index: int, data: bytes) -> bytes:
    return _field(3, b"\x08" + _varint(key_index) + _field(3, data))


def encode_aggregate(records: Iterable[tuple[str, bytes]]) -> bytes:
    """One aggregate of (partition key, data) user records, partition keys shared through the table."""
    keys: dict[str, int] = {}
    body = []
    for key, data in records:
        index = keys.setdefault(key, len(keys))
        body.append(_record_bytes(index, data))
    message = b"".join([*(_field(1, key.encode()) for key in keys), *body])
    return MAGIC + message + hashlib.md5(message).digest()


def _framed_size(payload_bytes: int) -> int:
    """A length-delimited field's bytes: one tag byte (fields 1..15), the length, the payload."""
    return 1 + len(_varint(payload_bytes)) + payload_bytes


def _added_bytes(key: str, data: bytes, keys: dict[str, int]) -> int:
    """What adding one user record grows an aggregate by: its Record, and its key if the table lacks it."""
    index = keys.get(key, len(keys))
    record = _framed_size(1 + len(_varint(index)) + _framed_size(len(data)))
    return record + (0 if key in keys else _framed_size(len(key.encode())))


def aggregate(
    records: Iterable[tuple[str, bytes]],
    max_bytes: int = AGGREGATE_BYTES,
    max_records: int = MAX_RECORDS_PER_AGGREGATE,
) -> Iterator[tuple[str, bytes, list[int]]]:
    """Pack user records, in order, into Kinesis records of at most `max_bytes` (data plus partition
    key) and `max_records` user records each: (partition key, data, indexes of the user records in it).

    A Kinesis record's partition key is its first user record's, as the KPL's is. A group of one user
    record (also one too big to share an aggregate) goes as a plain record: the same bytes, nothing
    to unpack.
    """
    group: list[tuple[int, str, bytes]] = []
    keys: dict[str, int] = {}
    size = 0

    def packed() -> tuple[str, bytes, list[int]]:
        if len(group) == 1:
            index, key, data = group[0]
            return key, data, [index]
        return group[0][1], encode_aggregate((k, d) for _, k, d in group), [i for i, _, _ in group]

    for index, (key, data) in enumerate(records):
        added = _added_bytes(key, data, keys)
        if group and (len(group) >= max_records or size + added > max_bytes):
            yield packed()
            group, keys = [], {}
            added = _added_bytes(key, data, keys)
        if not group:  # the envelope, and the aggregate's own partition key (the first user record's)
            size = len(MAGIC) + DIGEST_BYTES + len(key.encode())
        group.append((index, key, data))
        keys.setdefault(key, len(keys))
        size += added
    if group:
        yield packed()


def deaggregate(data: bytes) -> list[UserRecord] | None:
    """The user records of an aggregate, or None when `data` is a plain record."""
    if len(data) <= len(MAGIC) + DIGEST_BYTES or not data.startswith(MAGIC):
        return None
    message = data[len(MAGIC) : -DIGEST_BYTES]
    if hashlib.md5(message).digest() != data[-DIGEST_BYTES:]:
        return None
    keys: list[str] = []
    hash_keys: list[str] = []
    raw_records: list[bytes] = []
    for number, value in _fields(message, "AggregatedRecord"):
        if number == 1:
            keys.append(_text(value, "partition_key_table"))
        elif number == 2:
            hash_keys.append(_text(value, "explicit_hash_key_table"))
        elif number == 3:
            raw_records.append(_bytes(value, "records"))
    return [_user_record(raw, keys, hash_keys, position) for position, raw in enumerate(raw_records)]


def user_data(data: bytes) -> list[bytes]:
    """What a reader of a stream takes from one Kinesis record: each user record's data."""
    users = deaggregate(data)
    return [data] if users is None else [user.data for user in users]


def _user_record(raw: bytes, keys: list[str], hash_keys: list[str], position: int) -> UserRecord:
    key_index = hash_index = data = None
    for number, value in _fields(raw, "records", position):
        if number == 1:
            key_index = _int(value, "records", position, ".partition_key_index")
        elif number == 2:
            hash_index = _int(value, "records", position, ".explicit_hash_key_index")
        elif number == 3:
            data = _bytes(value, "records", position, ".data")
    if key_index is None or data is None:
        missing = "partition_key_index" if key_index is None else "data"
        raise DamagedAggregate(f"records[{position}] has no {missing}")
    if key_index >= len(keys):
        raise DamagedAggregate(
            f"records[{position}].partition_key_index {key_index} is past the table of {len(keys)} keys"
        )
    if hash_index is not None and hash_index >= len(hash_keys):
        raise DamagedAggregate(
            f"records[{position}].explicit_hash_key_index {hash_index} is past the table of "
            f"{len(hash_keys)} keys"
        )
    return UserRecord(keys[key_index], data, None if hash_index is None else hash_keys[hash_index])


def _where(name: str, position: int | None, member: str = "") -> str:
    """Where in the aggregate a problem is, for its message (built only when there is one)."""
    return (name if position is None else f"{name}[{position}]") + member


def _read_varint(buffer: bytes, at: int, name: str, position: int | None) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(buffer):
            raise DamagedAggregate(f"{_where(name, position)}: a varint runs past the end")
        byte = buffer[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift >= 64:
            raise DamagedAggregate(f"{_where(name, position)}: a varint is longer than 64 bits")


def _fields(buffer: bytes, name: str, position: int | None = None) -> list[tuple[int, int | bytes]]:
    """(field number, value) for each field of a protobuf message; unknown fields are skipped."""
    fields = []
    at, end = 0, len(buffer)
    while at < end:
        tag = buffer[at]
        if tag < 0x80:  # one-byte varints (fields 1..15, short lengths) are the common case
            at += 1
        else:
            tag, at = _read_varint(buffer, at, name, position)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise DamagedAggregate(f"{_where(name, position)}: field number 0 at byte {at}")
        if wire_type in (_VARINT, _LENGTH_DELIMITED):
            if at < end and buffer[at] < 0x80:
                value, at = buffer[at], at + 1
            else:
                value, at = _read_varint(buffer, at, name, position)
            if wire_type == _LENGTH_DELIMITED:
                if at + value > end:
                    raise DamagedAggregate(
                        f"{_where(name, position)}: field {number} of {value} bytes runs past the end"
                    )
                value, at = buffer[at : at + value], at + value
            fields.append((number, value))
        elif wire_type in _FIXED_BYTES:
            at += _FIXED_BYTES[wire_type]
            if at > end:
                raise DamagedAggregate(f"{_where(name, position)}: field {number} runs past the end")
        else:
            raise DamagedAggregate(f"{_where(name, position)}: field {number} has wire type {wire_type}")
    return fields


def _int(value: int | bytes, name: str, position: int | None = None, member: str = "") -> int:
    if value.__class__ is not int:
        raise DamagedAggregate(f"{_where(name, position, member)} is not a varint")
    return value


def _bytes(value: int | bytes, name: str, position: int | None = None, member: str = "") -> bytes:
    if value.__class__ is not bytes:
        raise DamagedAggregate(f"{_where(name, position, member)} is not length-delimited")
    return value


def _text(value: int | bytes, name: str) -> str:
    try:
        return _bytes(value, name).decode("utf-8")
    except UnicodeDecodeError:
        raise DamagedAggregate(f"{name} holds a string that is not UTF-8") from None
