"""Reports in the artifact bucket, linked by a presigned URL that a browser opens without credentials."""

import urllib.request
from urllib.parse import parse_qsl, urlsplit

from orchestration.monitoring.report_links import LINK_LIFETIME_S, publish_report


def test_a_published_report_opens_from_its_link_without_credentials(emulator, tmp_path):
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="report-links")
    html = tmp_path / "drift.html"
    html.write_text("<html><body>Dataset Drift is detected</body></html>")
    link = publish_report(s3, "report-links", "reports/drift/2026-12-01.html", html)
    assert link.s3_uri == "s3://report-links/reports/drift/2026-12-01.html"
    assert not link.url.startswith("file:")
    query = dict(parse_qsl(urlsplit(link.url).query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and int(query["X-Amz-Expires"]) == LINK_LIFETIME_S
    with urllib.request.urlopen(link.url, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.read() == html.read_bytes()
