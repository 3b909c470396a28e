"""S3's REST-XML wire protocol (path-style addressing) over S3Backend."""

from __future__ import annotations

from email.utils import format_datetime
from urllib.parse import unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from emulator.protocol import presigned
from emulator.protocol.body import BodyLimit, read_body
from emulator.protocol.errors import AwsError
from emulator.protocol.rest import RestDispatcher
from emulator.s3 import lifecycle, listing
from emulator.s3.backend import ObjectInfo, S3Backend
from emulator.s3.chunked import decode_aws_chunked
from emulator.s3.metadata import metadata_headers, user_metadata

_BUCKET = r"/(?P<bucket>[^/]+)/?"
_OBJECT = r"/(?P<bucket>[^/]+)/(?P<key>.+)"

# S3's default for lifecycle transitions since 2024, sent with every lifecycle configuration answer
_LIFECYCLE_HEADERS = {"x-amz-transition-default-minimum-object-size": "all_storage_classes_128K"}
MAX_OBJECT_BYTES = 5 * 1024**3  # a single PUT
MAX_REQUEST_XML_BYTES = 1024 * 1024  # bodies other than object data (CreateBucketConfiguration)

_OBJECT_LIMIT = BodyLimit(
    MAX_OBJECT_BYTES,
    lambda size: AwsError(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed object size.",
        ProposedSize=size,
        MaxSizeAllowed=MAX_OBJECT_BYTES,
    ),
)
_XML_LIMIT = BodyLimit(
    MAX_REQUEST_XML_BYTES,
    lambda size: AwsError("MaxMessageLengthExceeded", f"Your request was too big: {size} bytes."),
)


def _xml(body: str, status: int = 200) -> Response:
    return Response('<?xml version="1.0" encoding="UTF-8"?>\n' + body, status, media_type="application/xml")


def render_error(err: AwsError, request: Request) -> Response:
    extra = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in err.fields.items())
    body = f"<Error><Code>{err.code}</Code><Message>{escape(err.message)}</Message>{extra}</Error>"
    if request.method == "HEAD":  # HEAD responses carry no body; botocore falls back to the status code
        return Response(status_code=err.status)
    return _xml(body, err.status)


def _object_headers(info: ObjectInfo) -> dict[str, str]:
    return {
        "ETag": f'"{info.etag}"',
        "Last-Modified": format_datetime(info.modified, usegmt=True),
        "Content-Type": info.content_type,
        "Content-Length": str(info.size),
        "Accept-Ranges": "bytes",
        **metadata_headers(info.metadata),
    }


def _check_bucket_configuration(body: bytes) -> None:
    """CreateBucket's optional body: a well-formed CreateBucketConfiguration (no DTDs, no entities)."""
    if not body.strip():
        return
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise AwsError("MalformedXML", "The XML you provided may not declare a DOCTYPE or entities.")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise AwsError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema.",
        ) from None
    if root.tag.rpartition("}")[2] != "CreateBucketConfiguration":
        raise AwsError(
            "MalformedXML",
            f"The XML you provided has root element {root.tag[:80]!r}, not CreateBucketConfiguration.",
        )


def _copy_source(header: str) -> tuple[str, str]:
    """`x-amz-copy-source: /bucket/key` (percent-encoded, optionally `?versionId=`) -> (bucket, key)."""
    bucket, _, key = unquote(header.partition("?")[0]).lstrip("/").partition("/")
    if not bucket or not key:
        raise AwsError(
            "InvalidArgument", f"Copy Source must mention the source bucket and key: {header[:200]!r}"
        )
    return bucket, key


def build_s3_api(backend: S3Backend) -> RestDispatcher:
    api = RestDispatcher(render_error, internal_code="InternalError")

    @api.route("PUT", _BUCKET)
    async def create_bucket(request: Request, bucket: str) -> Response:
        if "lifecycle" in request.query_params:
            return await put_lifecycle(request, bucket)
        _check_bucket_configuration(await read_body(request, _XML_LIMIT))
        await run_in_threadpool(backend.create_bucket, bucket)
        return Response(headers={"Location": f"/{bucket}"})

    @api.route("PUT", _OBJECT)
    async def put_object(request: Request, bucket: str, key: str) -> Response:
        headers = request.headers
        source = headers.get("x-amz-copy-source")
        if source is not None:
            return await copy_object(request, bucket, key, _copy_source(source))
        body = await read_body(request, _OBJECT_LIMIT)
        if "aws-chunked" in headers.get("content-encoding", ""):
            body = decode_aws_chunked(body, headers.get("x-amz-decoded-content-length"))
        content_type = headers.get("content-type", "binary/octet-stream")
        metadata = user_metadata(headers)
        info = await run_in_threadpool(backend.put_object, bucket, key, body, content_type, metadata)
        return Response(headers={"ETag": f'"{info.etag}"'})

    async def copy_object(request: Request, bucket: str, key: str, source: tuple[str, str]) -> Response:
        directive = request.headers.get("x-amz-metadata-directive", "COPY")
        if directive not in ("COPY", "REPLACE"):
            raise AwsError(
                "InvalidArgument", f"Unknown metadata directive {directive[:40]!r}: use COPY or REPLACE."
            )
        replace = None
        if directive == "REPLACE":
            content_type = request.headers.get("content-type", "binary/octet-stream")
            replace = (content_type, user_metadata(request.headers))
        elif source == (bucket, key):
            raise AwsError(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself without "
                "changing the object's metadata, storage class, website redirect location or encryption "
                "attributes.",
            )
        info = await run_in_threadpool(backend.copy_object, source, bucket, key, replace)
        return _xml(
            f'<CopyObjectResult xmlns="{listing.XMLNS}"><LastModified>{listing.iso_time(info)}</LastModified>'
            f"<ETag>&quot;{info.etag}&quot;</ETag></CopyObjectResult>"
        )

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

    # PutBucketLifecycleConfiguration, GetBucketLifecycleConfiguration, DeleteBucketLifecycle: the
    # bucket's path with ?lifecycle
    async def put_lifecycle(request: Request, bucket: str) -> Response:
        rules = lifecycle.parse_configuration(await read_body(request, _XML_LIMIT))
        await run_in_threadpool(backend.put_lifecycle, bucket, rules)
        return Response(headers=_LIFECYCLE_HEADERS)

    async def get_lifecycle(bucket: str) -> Response:
        rules = await run_in_threadpool(backend.get_lifecycle, bucket)
        response = _xml(lifecycle.render_configuration(rules))
        response.headers.update(_LIFECYCLE_HEADERS)
        return response

    @api.route("DELETE", _BUCKET)
    async def delete_lifecycle(request: Request, bucket: str) -> Response:
        if "lifecycle" not in request.query_params:
            raise AwsError("MethodNotAllowed", f"DELETE /{bucket[:80]} is not emulated", 405)
        await run_in_threadpool(backend.delete_lifecycle, bucket)
        return Response(status_code=204)

    @api.route("GET", _BUCKET)
    async def list_objects(request: Request, bucket: str) -> Response:
        if "lifecycle" in request.query_params:
            return await get_lifecycle(bucket)
        query = request.query_params
        version = query.get("list-type", "1")
        if version not in ("1", "2"):
            raise AwsError("InvalidArgument", f"list-type must be 2 (or absent for v1), got {version[:20]!r}")
        max_keys = listing.parse_max_keys(query.get("max-keys"))
        start_after = listing.where_to_start(version, query)
        found = await run_in_threadpool(
            backend.list_objects, bucket, query.get("prefix", ""), start_after, max_keys
        )
        return _xml(listing.render(version, bucket, query, max_keys, found))

    return api


# The credentials the product's boto3 clients sign with locally (orchestration/aws.py); the emulator
# checks presigned URLs against them, as S3 checks them against the account's keys.
LOCAL_SECRETS = {"local": "local"}


class PresignedS3:
    """The S3 API, answering a presigned URL only when its SigV4 query signature holds."""

    def __init__(self, api: RestDispatcher, secrets: dict[str, str] = LOCAL_SECRETS) -> None:
        self._api = api
        self._secrets = secrets

    def handles(self, request: Request) -> bool:
        return self._api.handles(request)

    def operations(self) -> list[dict]:
        return self._api.operations()

    async def __call__(self, request: Request) -> Response:
        if presigned.is_presigned(request.url.query):
            try:
                presigned.verify(
                    request.method,
                    request.scope["raw_path"].decode("latin-1"),
                    request.url.query,
                    {name.lower(): value for name, value in request.headers.items()},
                    self._secrets,
                )
            except AwsError as err:
                return render_error(err, request)
        return await self._api(request)


def presigned_s3(api: RestDispatcher, secrets: dict[str, str] = LOCAL_SECRETS) -> PresignedS3:
    return PresignedS3(api, secrets)
