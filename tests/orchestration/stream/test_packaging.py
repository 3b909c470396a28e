"""The Lambda package: the consumer and what it imports from serving/, its pure-Python dependencies, and
nothing of the orchestration side; the same sources give the same bytes."""

import zipfile

import pytest

from orchestration.stream.packaging import HANDLER, build_lambda_zip


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return build_lambda_zip(tmp_path_factory.mktemp("package") / "dist" / "consumer.zip")


def test_the_zip_holds_the_consumer_and_its_dependencies(package):
    names = zipfile.ZipFile(package).namelist()
    handler_file = HANDLER.rsplit(".", 1)[0].replace(".", "/") + ".py"
    assert {handler_file, "serving/__init__.py", "serving/features.py", "serving/schemas.py"} <= set(names)
    tops = {name.split("/")[0] for name in names}
    assert {"aws_lambda_powertools", "tenacity", "jmespath"} <= tops


def test_the_zip_holds_nothing_of_the_orchestration_side(package):
    names = zipfile.ZipFile(package).namelist()
    tops = {name.split("/")[0] for name in names}
    assert not tops & {
        "dagster",
        "orchestration",
        "emulator",
        "assets",
        "jobs",
        "sensors",
        "xgboost",
        "boto3",
    }
    assert not [n for n in names if n.startswith("serving/") and n.rsplit("/", 1)[-1] in ("inference.py",)]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_zip_is_reproducible(package, tmp_path):
    again = build_lambda_zip(tmp_path / "again.zip")
    assert again.read_bytes() == package.read_bytes()
