"""A dedicated emulator with a fraud endpoint and the packaged consumer, for stream-path tests.

The emulator is this module's own (not the session one) because the tests restart it and kill its
worker processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from emulator import control
from orchestration.aws import aws_client
from orchestration.data.simulation import SimulationConfig, simulate
from orchestration.endpoint.actions import DeployConfig, deploy_artifact, run_deploy
from orchestration.endpoint.strategies import Clients
from orchestration.model.artifact import pack_model_artifact
from orchestration.settings import Settings
from orchestration.stream.accounting import wait_until_accounted
from orchestration.stream.packaging import build_lambda_zip
from orchestration.stream.replay import TrafficConfig, replay
from orchestration.stream.stack import StreamStack, StreamStackSpec, deploy_stream_stack
from serving.features import FEATURE_NAMES
from serving.kpl import user_data

ENDPOINT = "stream-test"  # also StreamWorld.endpoint_name
GROUP = "stream-tests"
MODEL_VERSION = "stream-test-v1"


@dataclass
class OwnEmulator:
    """An emulator process this module starts, restarts and stops itself."""

    home: Path
    port: int

    @property
    def settings(self) -> Settings:
        return Settings(env="local", home=self.home, emulator_port=self.port, region="us-east-1")

    def client(self, service: str):
        return aws_client(service, self.settings)

    def start(self) -> None:
        control.start(self.port, self.home)

    def stop(self) -> None:
        control.stop(self.home)


@dataclass
class StreamWorld:
    emulator: OwnEmulator
    events: object
    labels: object
    zip_path: Path
    endpoint_name: str = ENDPOINT

    def client(self, service: str):
        return self.emulator.client(service)

    def aws(self) -> Clients:
        return Clients(self.client("sagemaker"), self.client("cloudwatch"), self.client("s3"))

    def deploy_endpoint(self) -> None:
        """(Re)create the endpoint on the registered version, e.g. after a test deleted it."""
        config = DeployConfig(
            endpoint_name=ENDPOINT, package_group=GROUP, model_version=MODEL_VERSION, instance_count=1
        )
        run_deploy(self.aws(), self.emulator.settings, config)

    def new_stack(self, **overrides) -> tuple[StreamStackSpec, StreamStack]:
        spec = StreamStackSpec.named(
            f"s{uuid.uuid4().hex[:6]}",
            endpoint_name=ENDPOINT,
            batch_size=100,
            circuit_cooldown_s=1.0,
            **overrides,
        )
        stack = deploy_stream_stack(
            self.client, spec, self.zip_path, self.emulator.settings.sagemaker_role_arn
        )
        return spec, stack

    def send(self, spec: StreamStackSpec, start: int, count: int, rate: float = 400, malformed: float = 0.0):
        """Replay events [start, start + count) into the stack's input stream."""
        config = TrafficConfig(rate=rate, duration_s=count / rate, malformed_share=malformed, seed=start)
        return replay(
            self.client("kinesis"), spec.input_stream, self.events.iloc[start : start + count], config
        )

    def account(self, spec: StreamStackSpec, stack: StreamStack, expected: int, timeout_s: float = 90):
        return wait_until_accounted(
            self.client("s3"),
            self.client("sqs"),
            spec.audit_bucket,
            stack.dead_letter_queue_url,
            expected,
            timeout_s,
        )

    def published_request_ids(self, spec: StreamStackSpec) -> list[str]:
        """Every request id on the output stream, in order, duplicates included."""
        kinesis = self.client("kinesis")
        ids = []
        for shard in kinesis.list_shards(StreamName=spec.output_stream)["Shards"]:
            iterator = kinesis.get_shard_iterator(
                StreamName=spec.output_stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
                ids += [
                    json.loads(data)["request_id"]
                    for record in page["Records"]
                    for data in user_data(record["Data"])
                ]
                iterator = page.get("NextShardIterator") if page["MillisBehindLatest"] > 0 else None
        return ids

    def mapping_stats(self, stack: StreamStack) -> dict:
        url = f"http://127.0.0.1:{self.emulator.port}/_rtinfer/lambda/event-source-mappings/{stack.mapping_uuid}/stats"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())

    @staticmethod
    def function_worker_pids(function_name: str) -> list[int]:
        """Worker processes running `function_name` (found by the environment Lambda gives them)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"AWS_LAMBDA_FUNCTION_NAME={function_name}".encode() in environ:
                pids.append(int(entry.name))
        return pids

    def kill_function_workers(self, function_name: str) -> int:
        killed = 0
        for pid in self.function_worker_pids(function_name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        return killed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def stream_world(tmp_path_factory) -> StreamWorld:
    root = tmp_path_factory.mktemp("stream-world")
    emulator = OwnEmulator(root / "home", _free_port())
    emulator.start()
    try:
        rng = np.random.default_rng(0)
        x = rng.uniform(0, 1, size=(2000, len(FEATURE_NAMES)))
        x[:, 0] *= 1000
        booster = xgb.train(
            {"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(x, label=x[:, 0] > 700), 20
        )
        packed = pack_model_artifact(
            booster, list(FEATURE_NAMES), 0.5, MODEL_VERSION, {}, root / "model.tar.gz"
        )
        events, labels = simulate(SimulationConfig(n_customers=500, n_terminals=100, n_days=3, seed=4))
        world = StreamWorld(emulator, events, labels, build_lambda_zip(root / "consumer.zip"))
        deploy_artifact(world.aws(), emulator.settings, packed, ENDPOINT, GROUP)
        yield world
    finally:
        emulator.stop()
