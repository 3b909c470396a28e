"""Request validation with SageMaker's own wording ("1 validation error detected: Value ... at ...")."""

from __future__ import annotations

from emulator.protocol.errors import AwsError, validation_exception

MAX_PRODUCTION_VARIANTS = 10


def constraint_error(value: object, field: str, constraint: str) -> AwsError:
    return validation_exception(
        f"1 validation error detected: Value '{value}' at '{field}' "
        f"failed to satisfy constraint: {constraint}"
    )


def check_weight(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise constraint_error(value, field, "Member must have value greater than or equal to 0")
    return float(value)


def check_instance_count(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise constraint_error(value, field, "Member must have value greater than or equal to 1")
    return value


def check_variants(production: list[dict], shadow: list[dict]) -> None:
    if not 1 <= len(production) <= MAX_PRODUCTION_VARIANTS:
        raise constraint_error(
            f"{len(production)} variants",
            "productionVariants",
            f"Member must have length between 1 and {MAX_PRODUCTION_VARIANTS}",
        )
    if shadow and (len(production) != 1 or len(shadow) != 1):
        raise validation_exception(
            "An endpoint config with ShadowProductionVariants must have exactly one production variant and "
            f"one shadow variant; got {len(production)} production and {len(shadow)} shadow variants"
        )
    seen: set[str] = set()
    for group, variants in (("productionVariants", production), ("shadowProductionVariants", shadow)):
        for i, variant in enumerate(variants, start=1):
            where = f"{group}.{i}.member"
            name = variant.get("VariantName")
            if not name:
                raise constraint_error(name, f"{where}.variantName", "Member must not be null")
            if name in seen:
                raise validation_exception(
                    f"Variant name {name!r} is used more than once in the endpoint config"
                )
            seen.add(name)
            check_weight(variant.get("InitialVariantWeight", 1.0), f"{where}.initialVariantWeight")
            check_instance_count(variant.get("InitialInstanceCount"), f"{where}.initialInstanceCount")
            if not variant.get("InstanceType"):
                raise constraint_error(
                    variant.get("InstanceType"), f"{where}.instanceType", "Member must not be null"
                )


def check_data_capture(config: dict | None) -> None:
    if not config:
        return
    percentage = config.get("InitialSamplingPercentage")
    if isinstance(percentage, bool) or not isinstance(percentage, int) or not 0 <= percentage <= 100:
        raise constraint_error(
            percentage, "dataCaptureConfig.initialSamplingPercentage", "Member must be between 0 and 100"
        )
    uri = config.get("DestinationS3Uri", "")
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise constraint_error(uri, "dataCaptureConfig.destinationS3Uri", "Member must be an s3:// URI")
    options = config.get("CaptureOptions") or []
    modes = [option.get("CaptureMode") for option in options]
    if not modes or any(mode not in ("Input", "Output") for mode in modes):
        raise constraint_error(
            modes, "dataCaptureConfig.captureOptions", "Member must list CaptureMode Input and/or Output"
        )
