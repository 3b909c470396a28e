"""The op names callers use (CLI, demo, sensors) are nodes of the code location's jobs."""

import pytest

import jobs.ops as ops
from orchestration.definitions import defs

EXPORTED = {name: value for name, value in vars(ops).items() if name.endswith("_OP")}


def test_every_op_named_by_the_code_location_is_exported():
    assert len(EXPORTED) == 14


@pytest.mark.parametrize("name", sorted(EXPORTED))
def test_each_exported_name_is_a_node_of_a_job(name):
    nodes = {node for job in defs.resolve_all_job_defs() for node in job.graph.node_dict}
    assert EXPORTED[name] in nodes, name


def test_op_config_is_the_run_config_an_op_reads():
    run_config = ops.op_config(ops.ROLLBACK_OP, {"endpoint_name": "e"})
    assert run_config == {"ops": {"roll_back": {"config": {"endpoint_name": "e"}}}}
    assert defs.resolve_job_def("rollback").run_config_schema.config_type.fields  # a schema exists
    from dagster._config import validate_config

    assert validate_config(defs.resolve_job_def("rollback").run_config_schema.config_type, run_config).success
