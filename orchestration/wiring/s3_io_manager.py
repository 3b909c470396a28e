"""Asset storage in S3, in open formats (orchestration.wiring.value_formats), over dagster-aws's S3
resource: s3://<bucket>/<prefix>/<stored key path>.{parquet,json,bin}. Never pickle.

Locally the S3 resource points at the emulator, on AWS at S3, so runs in separate processes or
containers (Dagster's ECS run launcher) share every asset value.
"""

from __future__ import annotations

import dagster as dg
from botocore.exceptions import ClientError
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from orchestration.buckets import ensure_bucket
from orchestration.wiring.io_manager import never_stored, stored_key_path
from orchestration.wiring.value_formats import SUFFIXES, decode, encode


class S3OpenFormatIOManager(dg.ConfigurableIOManager):
    s3: S3Resource
    bucket: str
    prefix: str = "assets"
    _client = PrivateAttr(default=None)

    def _s3(self):
        if self._client is None:
            self._client = self.s3.get_client()
        return self._client

    def _stem(self, context) -> str:
        return "/".join([self.prefix.strip("/"), *stored_key_path(context)])

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is None:
            return
        stem = self._stem(context)
        suffix, data = encode(stem.rsplit("/", 1)[-1], obj)
        key = stem + suffix
        s3 = self._s3()
        try:
            s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise
            ensure_bucket(s3, self.bucket, s3.meta.region_name)
            s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        context.add_output_metadata({"path": dg.MetadataValue.path(f"s3://{self.bucket}/{key}")})

    def load_input(self, context: dg.InputContext):
        stem = self._stem(context)
        s3 = self._s3()
        for suffix in SUFFIXES:
            try:
                body = s3.get_object(Bucket=self.bucket, Key=stem + suffix)["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "NoSuchBucket", "404"):
                    raise
                continue
            return decode(suffix, body)
        raise never_stored(context, f"s3://{self.bucket}/{stem}.parquet|.json|.bin")
