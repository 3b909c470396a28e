"""SageMaker hosting records as the backend keeps them: models, endpoint configs, endpoints.

Models and configs never change once created; an endpoint's record is updated in place (under the
backend's lock) as it moves through Creating, InService, Updating and Failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Container:
    image: str
    model_data_url: str
    environment: dict[str, str] = field(default_factory=dict)
    model_package_name: str | None = None  # the registry package the image and data came from


@dataclass(frozen=True)
class Model:
    name: str
    arn: str
    container: Container
    execution_role_arn: str | None
    creation_time: float


@dataclass(frozen=True)
class VariantSpec:
    """One production or shadow variant of an endpoint config."""

    name: str
    model_name: str
    initial_weight: float
    initial_instance_count: int
    instance_type: str


@dataclass(frozen=True)
class DataCapture:
    enabled: bool
    sampling_percentage: int
    destination_s3_uri: str
    modes: tuple[str, ...]  # Input and/or Output
    json_content_types: tuple[str, ...] = ()
    csv_content_types: tuple[str, ...] = ()
    kms_key_id: str | None = None


@dataclass(frozen=True)
class EndpointConfigSpec:
    """What CreateEndpointConfig asks for."""

    production: tuple[VariantSpec, ...]
    shadow: tuple[VariantSpec, ...]
    data_capture: DataCapture | None


@dataclass(frozen=True)
class EndpointConfig:
    name: str
    arn: str
    spec: EndpointConfigSpec
    creation_time: float


@dataclass
class DeployedVariant:
    """A variant as an endpoint runs it: resolved at deployment, so later deletions cannot break it."""

    name: str
    model_name: str
    model_data_url: str
    image: str
    environment: dict[str, str]
    instance_type: str
    current_weight: float
    desired_weight: float
    current_instance_count: int
    desired_instance_count: int


@dataclass(frozen=True)
class Deployment:
    production: tuple[DeployedVariant, ...]
    shadow: tuple[DeployedVariant, ...]
    data_capture: DataCapture | None

    def variants(self) -> tuple[DeployedVariant, ...]:
        return self.production + self.shadow

    def production_capacity(self) -> int:
        return sum(v.desired_instance_count for v in self.production)


@dataclass
class PendingDeployment:
    """An UpdateEndpoint in progress: green's config, its share of traffic and its phase."""

    config_name: str
    start_time: float
    variants: tuple[DeployedVariant, ...]
    share: float = 0.0
    phase: str = "Creating"


@dataclass(frozen=True)
class StepSize:
    kind: str  # INSTANCE_COUNT or CAPACITY_PERCENT
    value: int

    def share(self, capacity: int) -> float:
        """This step as a share of green's `capacity` (its production instance count)."""
        return self.value / 100 if self.kind == "CAPACITY_PERCENT" else self.value / capacity


@dataclass(frozen=True)
class BlueGreenPolicy:
    routing: str  # ALL_AT_ONCE, CANARY or LINEAR
    step: StepSize | None  # the canary size or the linear step; None for ALL_AT_ONCE
    wait_s: int
    termination_wait_s: int
    max_execution_s: int
    alarms: tuple[str, ...]

    def shares(self, capacity: int) -> tuple[float, ...]:
        """Green's share of traffic after each step; the last is 1.0."""
        if self.step is None:
            return (1.0,)
        step = self.step.share(capacity)
        if self.routing == "CANARY":
            return (step, 1.0)
        count = int(1 / step + 1e-9)
        return tuple(min(1.0, step * i) for i in range(1, count + 1)) + (
            (1.0,) if count * step < 1 - 1e-9 else ()
        )


@dataclass
class Endpoint:
    name: str
    arn: str
    config_name: str
    status: str
    creation_time: float
    last_modified_time: float
    deployed: Deployment
    pending: PendingDeployment | None = None
    failure_reason: str | None = None
    last_deployment_config: BlueGreenPolicy | None = None


@dataclass(frozen=True)
class EndpointSummary:
    name: str
    arn: str
    creation_time: float
    last_modified_time: float
    status: str
