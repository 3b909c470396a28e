"""S3 under concurrent overwrites, S3's bucket-name rules, user metadata, CopyObject: through boto3."""

from __future__ import annotations

import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from emulator.s3.names import bucket_name_problem

BUCKET = "s3-integrity"
NO_RETRIES = Config(retries={"total_max_attempts": 1})


@pytest.fixture(scope="module")
def s3(emulator):
    client = emulator.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_readers_racing_overwrites_always_get_a_whole_body(emulator, s3):
    """Writers replace one key again and again while readers read it: every read is one of the bodies
    written, whole, and none fails."""
    bodies = [bytes([i]) * (1000 + 37 * i) for i in range(8)]
    s3.put_object(Bucket=BUCKET, Key="hot", Body=bodies[0])
    stop = threading.Event()
    reads: Counter[str] = Counter()
    errors: list[str] = []

    def write(offset: int) -> None:
        client = emulator.client("s3")
        i = offset
        while not stop.is_set():
            client.put_object(Bucket=BUCKET, Key="hot", Body=bodies[i % len(bodies)])
            i += 1

    def read() -> None:
        client = emulator.client("s3", NO_RETRIES)  # a retried 500 would hide the failure
        while not stop.is_set():
            try:
                body = client.get_object(Bucket=BUCKET, Key="hot")["Body"].read()
            except ClientError as error:
                errors.append(str(error))
                continue
            reads["whole" if body in bodies else "torn"] += 1

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    threads += [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(4)  # the hammer's duration, not a wait for a condition
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, f"{len(errors)} reads failed during overwrites, e.g. {errors[0]}"
    assert reads["torn"] == 0, reads
    assert reads["whole"] >= 20, f"the hammer read only {reads['whole']} times"


BUCKET_NAMES = [
    ("ok-bucket", None),
    ("a.b-c.1", None),
    ("..", "between 3 and 63"),
    ("Invalid_Bucket", "lowercase letters"),
    ("a" * 64, "between 3 and 63"),
    ("a" * 300, "between 3 and 63"),
    ("ab", "between 3 and 63"),
    ("-abc", "begin and end"),
    ("abc-", "begin and end"),
    ("a..b", "two adjacent periods"),
    ("192.168.5.4", "IP address"),
    ("xn--abc", "prefix"),
    ("sthree-abc", "prefix"),
    ("amzn-s3-demo-abc", "prefix"),
    ("abc-s3alias", "suffix"),
    ("abc--ol-s3", "suffix"),
    ("abc.mrap", "suffix"),
    ("abc--x-s3", "suffix"),
    ("nul\x00name", "lowercase letters"),
    ("space name", "lowercase letters"),
]


@pytest.mark.parametrize(("name", "problem"), BUCKET_NAMES)
def test_bucket_names_follow_s3s_rules(name, problem):
    found = bucket_name_problem(name)
    assert (found is None) if problem is None else (problem in (found or "")), (name, found)


@pytest.mark.parametrize("name", ["..", "Invalid_Bucket", "a" * 300, "nul\x00name", "192.168.5.4"])
def test_an_invalid_bucket_name_is_refused_and_nothing_is_created(emulator, name):
    """Sent raw (boto3 refuses some of these names itself): no bucket row, no bucket folder."""
    before = _stored_buckets(emulator.home)
    status, body = _raw_create_bucket(emulator.port, name)
    assert status == 400 and b"<Code>InvalidBucketName</Code>" in body, (status, body)
    assert b"The specified bucket is not valid" in body
    assert _stored_buckets(emulator.home) == before


def _stored_buckets(home) -> tuple[set[str], set[str]]:
    """The bucket rows in the emulator's state and the bucket folders beside them."""
    root = home / "emulator"
    with sqlite3.connect(f"file:{root / 'state.db'}?mode=ro", uri=True, timeout=30) as conn:
        rows = {name for (name,) in conn.execute("SELECT name FROM s3_buckets")}
    return rows, {path.name for path in (root / "s3").iterdir()}


def _raw_create_bucket(port: int, name: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{port}/{quote(name, safe='')}"
    request = AWSRequest(method="PUT", url=url, data=b"")
    S3SigV4Auth(Credentials("local", "local"), "s3", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(url, data=b"", method="PUT", headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_user_metadata_round_trips(s3):
    metadata = {"model-version": "v7", "owner": "fraud team", "empty": ""}
    s3.put_object(Bucket=BUCKET, Key="with-meta", Body=b"x", Metadata=metadata)
    assert s3.get_object(Bucket=BUCKET, Key="with-meta")["Metadata"] == metadata
    assert s3.head_object(Bucket=BUCKET, Key="with-meta")["Metadata"] == metadata
    s3.put_object(Bucket=BUCKET, Key="with-meta", Body=b"y")  # an overwrite replaces the metadata too
    assert s3.head_object(Bucket=BUCKET, Key="with-meta")["Metadata"] == {}


def test_metadata_over_2_kb_is_refused(s3):
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=BUCKET, Key="too-much-meta", Body=b"x", Metadata={"big": "v" * 2100})
    assert refused.value.response["Error"]["Code"] == "MetadataTooLarge"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key="too-much-meta")


def test_copy_object_copies_body_and_metadata_or_replaces_them(s3):
    s3.put_object(Bucket=BUCKET, Key="src", Body=b"payload", ContentType="text/plain", Metadata={"a": "1"})
    copied = s3.copy_object(Bucket=BUCKET, Key="dst", CopySource={"Bucket": BUCKET, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == s3.head_object(Bucket=BUCKET, Key="src")["ETag"]
    got = s3.get_object(Bucket=BUCKET, Key="dst")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"payload", "text/plain", {"a": "1"})
    s3.copy_object(
        Bucket=BUCKET,
        Key="dst",
        CopySource=f"{BUCKET}/src",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="application/json",
    )
    head = s3.head_object(Bucket=BUCKET, Key="dst")
    assert (head["Metadata"], head["ContentType"]) == ({"b": "2"}, "application/json")
    with pytest.raises(ClientError) as to_itself:
        s3.copy_object(Bucket=BUCKET, Key="src", CopySource={"Bucket": BUCKET, "Key": "src"})
    assert to_itself.value.response["Error"]["Code"] == "InvalidRequest"
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.copy_object(Bucket=BUCKET, Key="dst", CopySource={"Bucket": BUCKET, "Key": "absent"})
