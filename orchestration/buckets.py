"""The product's S3 bucket, created when it does not exist yet (always so in a fresh emulator).

Looked for first (a one-key listing, which S3 answers NoSuchBucket for a missing bucket): on AWS the
bucket usually exists and the role need not be allowed to create one.
"""

from __future__ import annotations

import contextlib

from botocore.exceptions import ClientError


def ensure_bucket(s3, bucket: str, region: str | None = None) -> None:
    """`region` defaults to the client's."""
    region = region or s3.meta.region_name
    try:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket, **extra)
