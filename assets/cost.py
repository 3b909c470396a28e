"""What a prediction costs: the stream path's counted usage of the last minutes, priced."""

import dagster as dg

from orchestration.monitoring.charts import as_markdown_image
from orchestration.monitoring.cost_report import (
    DEFAULT_ROWS_PER_INSTANCE_S,
    cost_chart,
    cost_report,
    report_frame,
)
from orchestration.monitoring.prices import load_price_table
from orchestration.monitoring.usage import Window, read_usage, stack_resources
from orchestration.wiring.resources import AwsClients, MonitoringTargets


class StreamCostConfig(dg.Config):
    window_minutes: int = 15
    rows_per_instance_s: float = DEFAULT_ROWS_PER_INSTANCE_S  # measured rows/s of one instance


@dg.asset(
    group_name="monitoring",
    description="Dollars per million predictions by component (counted usage, dated price table), per "
    "month at the observed rate, and at the seed's 50,000 and 1,000 tx/s.",
)
def stream_cost(
    context: dg.AssetExecutionContext, config: StreamCostConfig, aws: AwsClients, targets: MonitoringTargets
) -> dg.Output[dict]:
    resources = stack_resources(targets)
    window = Window.last(config.window_minutes * 60)
    usage = read_usage(
        *(aws.client(s) for s in ("cloudwatch", "sagemaker", "lambda", "kinesis")), resources, window
    )
    prices = load_price_table()
    report = cost_report(usage, prices, config.rows_per_instance_s)
    frame = report_frame(report)
    context.log.info(f"{usage.predictions:,.0f} predictions in {config.window_minutes} min")
    chart = as_markdown_image(cost_chart(report.measured, "Cost per million predictions"), "cost")
    return dg.Output(
        {"predictions": usage.predictions, "window_s": usage.window_s, **report.measured.as_metadata()},
        metadata={
            "predictions": usage.predictions,
            "prices": f"{prices.region}, {prices.currency}, taken on {prices.taken_on}",
            **report.measured.as_metadata(),
            "breakdown": dg.MetadataValue.md(frame.to_markdown(floatfmt=".4g")),
            "cost_per_million": dg.MetadataValue.md(chart),
        },
    )
