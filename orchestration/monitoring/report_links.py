"""Reports people open from the UI: kept in the artifact bucket, linked by a presigned URL.

A `file://` link is blocked by browsers ("Not allowed to load local resource") and names a file only
one machine has. The report goes to S3 next to the artifacts, and the link is a presigned GET: it
opens in any browser without credentials until it expires (at most a week with SigV4; on AWS, never
later than the signing credentials themselves, so a role session's hour can cut it shorter).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LINK_LIFETIME_S = 7 * 24 * 3600  # SigV4's longest


@dataclass(frozen=True)
class ReportLink:
    s3_uri: str
    url: str
    expires_in_s: int


def publish_report(
    s3, bucket: str, key: str, html_path: Path, expires_in_s: int = LINK_LIFETIME_S
) -> ReportLink:
    """Upload an HTML report to s3://bucket/key and return a presigned link to it."""
    s3.put_object(Bucket=bucket, Key=key, Body=html_path.read_bytes(), ContentType="text/html; charset=utf-8")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in_s
    )
    return ReportLink(f"s3://{bucket}/{key}", url, expires_in_s)
