"""The product's bucket is created when missing and left alone (contents kept) when it exists."""

from orchestration.buckets import ensure_bucket


def test_a_missing_bucket_is_created_and_an_existing_one_kept(emulator):
    s3 = emulator.client("s3")
    ensure_bucket(s3, "buckets-test", "us-east-1")
    s3.put_object(Bucket="buckets-test", Key="kept", Body=b"x")
    ensure_bucket(s3, "buckets-test", "us-east-1")
    assert s3.get_object(Bucket="buckets-test", Key="kept")["Body"].read() == b"x"
