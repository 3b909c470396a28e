"""boto3 clients, created once per execution environment with explicit timeouts and retry modes.

On AWS they use the function's role and regional endpoints; locally the emulator sets
AWS_ENDPOINT_URL in the function's environment, which botocore honours for every service.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import boto3
from botocore.config import Config

# The endpoint call is retried by the consumer itself (tenacity, bounded by the time left), so botocore
# makes one attempt; the stores retry in botocore's standard mode.
_INVOKE = Config(connect_timeout=1, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 1})
# The stores skip botocore's client-side parameter validation: the requests are built by this package
# in fixed shapes, the service validates them anyway (a bad one still fails, with the service's
# message), and walking every attribute of every item of a 25-item batch was the consumer's largest
# single cost (see bench/stream_throughput.py).
_STORES = Config(
    connect_timeout=1,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 3},
    max_pool_connections=20,
    parameter_validation=False,
)


@dataclass(frozen=True)
class Clients:
    runtime: object
    dynamodb: object
    kinesis: object
    sqs: object
    s3: object  # the audit objects and claim-checked dead letters


@cache
def clients() -> Clients:
    session = boto3.session.Session()
    return Clients(
        runtime=session.client("sagemaker-runtime", config=_INVOKE),
        dynamodb=session.client("dynamodb", config=_STORES),
        kinesis=session.client("kinesis", config=_STORES),
        sqs=session.client("sqs", config=_STORES),
        # a claim-checked letter is up to a few MiB, an audit object a few hundred KiB: give uploads time
        s3=session.client("s3", config=_STORES.merge(Config(read_timeout=20, signature_version="s3v4"))),
    )
