"""The dated AWS price table the cost model reads: infra/prices/aws-us-east-1.json by default, or the
file RTINFER_PRICE_TABLE names (a user's own region, discounts or newer prices). Validated on load; a
bad file is refused with the field it got wrong."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PRICE_TABLE_ENV = "RTINFER_PRICE_TABLE"
DEFAULT_PRICE_TABLE = Path(__file__).resolve().parents[2] / "infra" / "prices" / "aws-us-east-1.json"


class PriceTableError(ValueError):
    """The price table cannot be used; the message names the file and the field."""


class Price(BaseModel):
    """`usd` for `per` units of `unit`, as the pricing page at `source` states it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    usd: float = Field(ge=0)
    per: float = Field(gt=0)
    unit: str = Field(min_length=1)
    source: str = Field(pattern=r"^https://")
    confirmed: bool  # read on the source page on `taken_on`, not only the list price as last known

    def of(self, units: float) -> float:
        """Dollars for `units` units."""
        return self.usd * units / self.per


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    taken_on: date
    notes: str = ""
    kinesis_shard_hour: Price
    kinesis_put_payload_unit: Price
    lambda_request: Price
    lambda_gb_second: dict[str, Price]  # by architecture: x86_64, arm64
    dynamodb_write_request_unit: Price
    dynamodb_read_request_unit: Price
    s3_put_request: Price
    s3_get_request: Price
    s3_storage_gb_month: Price
    sqs_request: Price
    cloudwatch_metric_month: Price
    cloudwatch_logs_ingested_gb: Price
    sagemaker_instance_hour: dict[str, Price]  # by instance type

    def instance_hour(self, instance_type: str) -> Price:
        found = self.sagemaker_instance_hour.get(instance_type)
        if found is None:
            raise PriceTableError(
                f"the price table ({self.region}, {self.taken_on}) has no sagemaker_instance_hour for "
                f"{instance_type!r}; it has {sorted(self.sagemaker_instance_hour)}"
            )
        return found

    def gb_second(self, architecture: str) -> Price:
        found = self.lambda_gb_second.get(architecture)
        if found is None:
            raise PriceTableError(
                f"the price table has no lambda_gb_second for architecture {architecture!r}; "
                f"it has {sorted(self.lambda_gb_second)}"
            )
        return found


def price_table_path() -> Path:
    named = os.environ.get(PRICE_TABLE_ENV, "").strip()
    return Path(named).expanduser() if named else DEFAULT_PRICE_TABLE


def load_price_table(path: Path | None = None) -> PriceTable:
    """The table at `path` (default: RTINFER_PRICE_TABLE, else the repository's), validated."""
    path = path or price_table_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PriceTableError(f"price table {path} does not exist (set {PRICE_TABLE_ENV})") from None
    except json.JSONDecodeError as exc:
        raise PriceTableError(f"price table {path} is not JSON: {exc}") from None
    try:
        return PriceTable.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top level)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise PriceTableError(f"price table {path} is invalid: {problems}") from None
