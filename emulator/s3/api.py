"""S3's REST-XML wire protocol (path-style addressing) over S3Backend."""

from __future__ import annotations

import base64
from email.utils import format_datetime
from xml.sax.saxutils import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from emulator.protocol import presigned
from emulator.protocol.errors import AwsError
from emulator.protocol.rest import RestDispatcher
from emulator.s3.backend import ObjectInfo, S3Backend

_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_MAX_KEYS = 1000
_BUCKET = r"/(?P<bucket>[^/]+)/?"
_OBJECT = r"/(?P<bucket>[^/]+)/(?P<key>.+)"


def _xml(body: str, status: int = 200) -> Response:
    return Response('<?xml version="1.0" encoding="UTF-8"?>\n' + body, status, media_type="application/xml")


def render_error(err: AwsError, request: Request) -> Response:
    extra = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in err.fields.items())
    body = f"<Error><Code>{err.code}</Code><Message>{escape(err.message)}</Message>{extra}</Error>"
    if request.method == "HEAD":  # HEAD responses carry no body; botocore falls back to the status code
        return Response(status_code=err.status)
    return _xml(body, err.status)


def _iso(info: ObjectInfo) -> str:
    return info.modified.strftime("%Y-%m-%dT%H:%M:%S.") + f"{info.modified.microsecond // 1000:03d}Z"


def _object_headers(info: ObjectInfo) -> dict[str, str]:
    return {
        "ETag": f'"{info.etag}"',
        "Last-Modified": format_datetime(info.modified, usegmt=True),
        "Content-Type": info.content_type,
        "Content-Length": str(info.size),
        "Accept-Ranges": "bytes",
    }


def decode_aws_chunked(body: bytes) -> bytes:
    """Undo `Content-Encoding: aws-chunked` (hex size[;chunk-signature=..] CRLF data CRLF ... 0 CRLF)."""
    out = bytearray()
    pos = 0
    while True:
        line_end = body.index(b"\r\n", pos)
        size = int(body[pos:line_end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        start = line_end + 2
        out += body[start : start + size]
        pos = start + size + 2


def build_s3_api(backend: S3Backend) -> RestDispatcher:
    api = RestDispatcher(render_error)

    @api.route("PUT", _BUCKET)
    async def create_bucket(request: Request, bucket: str) -> Response:
        await run_in_threadpool(backend.create_bucket, bucket)
        return Response(headers={"Location": f"/{bucket}"})

    @api.route("PUT", _OBJECT)
    async def put_object(request: Request, bucket: str, key: str) -> Response:
        body = await request.body()
        if "aws-chunked" in request.headers.get("content-encoding", ""):
            body = decode_aws_chunked(body)
        content_type = request.headers.get("content-type", "binary/octet-stream")
        info = await run_in_threadpool(backend.put_object, bucket, key, body, content_type)
        return Response(headers={"ETag": f'"{info.etag}"'})

    @api.route("GET", _OBJECT)
    async def get_object(request: Request, bucket: str, key: str) -> Response:
        info, body = await run_in_threadpool(backend.get_object, bucket, key)
        return Response(body, headers=_object_headers(info))

    @api.route("HEAD", _OBJECT)
    async def head_object(request: Request, bucket: str, key: str) -> Response:
        info = await run_in_threadpool(backend.head_object, bucket, key)
        return Response(headers=_object_headers(info))

    @api.route("DELETE", _OBJECT)
    async def delete_object(request: Request, bucket: str, key: str) -> Response:
        await run_in_threadpool(backend.delete_object, bucket, key)
        return Response(status_code=204)

    @api.route("GET", _BUCKET)
    async def list_objects_v2(request: Request, bucket: str) -> Response:
        query = request.query_params
        if query.get("list-type") != "2":
            raise AwsError("NotImplemented", "only ListObjectsV2 (list-type=2) is emulated", 501)
        prefix = query.get("prefix", "")
        token = query.get("continuation-token")
        max_keys = _parse_max_keys(query.get("max-keys"))
        start_after = _decode_token(token) if token else query.get("start-after", "")
        listing = await run_in_threadpool(backend.list_objects, bucket, prefix, start_after, max_keys)
        contents = "".join(
            f"<Contents><Key>{escape(o.key)}</Key><LastModified>{_iso(o)}</LastModified>"
            f"<ETag>&quot;{o.etag}&quot;</ETag><Size>{o.size}</Size><StorageClass>STANDARD</StorageClass>"
            "</Contents>"
            for o in listing.objects
        )
        parts = [
            f'<ListBucketResult xmlns="{_XMLNS}"><Name>{escape(bucket)}</Name>',
            f"<Prefix>{escape(prefix)}</Prefix><KeyCount>{len(listing.objects)}</KeyCount>",
            f"<MaxKeys>{max_keys}</MaxKeys>",
            f"<IsTruncated>{'true' if listing.next_key else 'false'}</IsTruncated>",
            f"<ContinuationToken>{escape(token)}</ContinuationToken>" if token else "",
            f"<NextContinuationToken>{_encode_token(listing.next_key)}</NextContinuationToken>"
            if listing.next_key
            else "",
            contents,
            "</ListBucketResult>",
        ]
        return _xml("".join(parts))

    return api


def _parse_max_keys(text: str | None) -> int:
    if text is None:
        return _MAX_KEYS
    try:
        value = int(text)
    except ValueError:
        raise AwsError("InvalidArgument", f"max-keys must be an integer, got {text!r}") from None
    if value < 0:
        raise AwsError("InvalidArgument", f"max-keys must be >= 0, got {value}")
    return min(value, _MAX_KEYS)


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError:
        raise AwsError(
            "InvalidArgument", f"The continuation token provided is incorrect: {token!r}"
        ) from None


# The credentials the product's boto3 clients sign with locally (orchestration/aws.py); the emulator
# checks presigned URLs against them, as S3 checks them against the account's keys.
LOCAL_SECRETS = {"local": "local"}


def presigned_s3(api, secrets=LOCAL_SECRETS):
    """The S3 API, answering a presigned URL only when its SigV4 query signature holds."""

    async def handle(request: Request) -> Response:
        if presigned.is_presigned(request.url.query):
            try:
                presigned.verify(
                    request.method,
                    request.scope["raw_path"].decode(),
                    request.url.query,
                    {name.lower(): value for name, value in request.headers.items()},
                    secrets,
                )
            except AwsError as err:
                return render_error(err, request)
        return await api(request)

    return handle
