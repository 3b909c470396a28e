"""S3 through real boto3 against the emulator."""

from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def s3(emulator):
    client = emulator.client("s3")
    client.create_bucket(Bucket="s3-tests")
    return client


def test_put_get_head_delete_round_trip(s3):
    body = b"\x00binary\xffpayload" * 100
    put = s3.put_object(Bucket="s3-tests", Key="dir/a b+c.bin", Body=body, ContentType="application/x-test")
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket="s3-tests", Key="dir/a b+c.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-test"
    assert got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket="s3-tests", Key="dir/a b+c.bin")
    assert head["ContentLength"] == len(body)
    s3.delete_object(Bucket="s3-tests", Key="dir/a b+c.bin")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="s3-tests", Key="dir/a b+c.bin")


def test_overwrite_replaces_body(s3):
    s3.put_object(Bucket="s3-tests", Key="over", Body=b"one")
    s3.put_object(Bucket="s3-tests", Key="over", Body=b"two")
    assert s3.get_object(Bucket="s3-tests", Key="over")["Body"].read() == b"two"


def test_list_objects_v2_prefix_and_pagination(s3):
    keys = [f"list/{i:02d}" for i in range(7)]
    for key in keys:
        s3.put_object(Bucket="s3-tests", Key=key, Body=key.encode())
    s3.put_object(Bucket="s3-tests", Key="other/x", Body=b"x")
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket="s3-tests", Prefix="list/", MaxKeys=3, **kwargs)
        seen += [item["Key"] for item in page["Contents"]]
        pages += 1
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == keys
    assert pages == 3
    paginated = s3.get_paginator("list_objects_v2").paginate(Bucket="s3-tests", Prefix="list/", MaxKeys=2)
    assert [item["Key"] for page in paginated for item in page["Contents"]] == keys
    assert s3.list_objects_v2(Bucket="s3-tests", Prefix="nothing/")["KeyCount"] == 0


def test_missing_bucket_and_key_errors(s3):
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.get_object(Bucket="no-such-bucket", Key="k")
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.list_objects_v2(Bucket="no-such-bucket")
    with pytest.raises(s3.exceptions.NoSuchKey) as missing:
        s3.get_object(Bucket="s3-tests", Key="missing")
    assert missing.value.response["Error"]["Message"] == "The specified key does not exist."
    with pytest.raises(ClientError) as head:
        s3.head_object(Bucket="s3-tests", Key="missing")
    assert head.value.response["Error"]["Code"] == "404"


def test_create_existing_bucket_is_an_error(s3):
    with pytest.raises(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket="s3-tests")
