"""The model artifact against the SageMaker XGBoost container's script-mode contract.

The container (sagemaker-xgboost-container over sagemaker-containers) unpacks model.tar.gz to
/opt/ml/model; reads SAGEMAKER_PROGRAM (the module to import, `.py` dropped) and
SAGEMAKER_SUBMIT_DIRECTORY (where that module's folder is: an S3 tarball or a local folder, here
/opt/ml/model/code, which it copies to /opt/ml/code and puts on the path); imports the module and
serves model_fn(model_dir), input_fn(body, content_type), predict_fn(data, model) and
output_fn(prediction, accept), whose (body, content_type) tuple becomes the response. Its Python has
numpy and xgboost but not this project, so code/ must carry every module of ours the entry point needs.
"""

import ast
import json
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from orchestration.model.artifact import pack_model_artifact
from orchestration.model.images import CONTAINER_MODEL_DIR, framework_image_uri, script_mode_environment
from orchestration.model.registry import publish_artifact
from serving.artifact import CODE_DIR, CODE_MODULES, ENTRY_POINT

FEATURES = ["a", "b", "c"]
# What the container's Python has besides the standard library.
CONTAINER_PACKAGES = {"numpy", "xgboost"}


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.random((200, 3))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=x[:, 0] > 0.5), 4)
    out = tmp_path_factory.mktemp("script-mode") / "model.tar.gz"
    return booster, pack_model_artifact(booster, FEATURES, 0.5, "sm-v1", {"auc": 1.0}, out)


@pytest.fixture(scope="module")
def model_dir(packed, tmp_path_factory):
    """The tarball unpacked as the container unpacks it (to its /opt/ml/model)."""
    target = tmp_path_factory.mktemp("opt-ml") / "model"
    with tarfile.open(packed[1].path) as tar:
        tar.extractall(target, filter="data")
    return target


def test_the_environment_names_the_packed_entry_point(model_dir, tmp_path):
    from orchestration.settings import Settings

    env = script_mode_environment(Settings(env="aws", home=tmp_path, emulator_port=1, region="eu-west-1"))
    submit_dir = Path(env["SAGEMAKER_SUBMIT_DIRECTORY"])
    assert submit_dir.parent == Path(CONTAINER_MODEL_DIR)  # inside the unpacked model.tar.gz
    code = model_dir / submit_dir.relative_to(CONTAINER_MODEL_DIR)
    assert code == model_dir / CODE_DIR and (code / env["SAGEMAKER_PROGRAM"]).is_file()
    assert env["SAGEMAKER_PROGRAM"] == ENTRY_POINT and ENTRY_POINT.endswith(".py")
    assert sorted(p.name for p in (code / "serving").iterdir()) == sorted(CODE_MODULES)


def test_the_entry_point_defines_the_four_handlers(model_dir):
    tree = ast.parse((model_dir / CODE_DIR / ENTRY_POINT).read_text())
    imported = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert {"model_fn", "input_fn", "predict_fn", "output_fn"} <= imported
    assert not {"transform_fn"} & imported  # the container refuses transform_fn beside the other three


def test_packed_code_imports_nothing_the_container_lacks(model_dir):
    stdlib = set(sys.stdlib_module_names)
    for path in (model_dir / CODE_DIR).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top == "tl2cgen":  # imported only for a Neo/TL2cgen-compiled artifact
                    continue
                assert top in stdlib | CONTAINER_PACKAGES | {"serving", "__future__"}, f"{path.name}: {name}"


CONTAINER = """
import importlib, json, sys
module = importlib.import_module(sys.argv[2].removesuffix(".py"))  # what the container does
model = module.model_fn(sys.argv[3])
data = module.input_fn(bytearray(sys.argv[4].encode()), "text/csv")
body, content_type = module.output_fn(module.predict_fn(data, model), "application/json")
ours = sorted({m.split(".")[0] for m, mod in sys.modules.items()
               if getattr(mod, "__file__", None) and mod.__file__.startswith(sys.argv[1])})
serving_file = sys.modules["serving"].__file__
print(json.dumps({"body": json.loads(body), "content_type": content_type, "ours": ours,
                  "serving": serving_file}))
"""


def test_the_container_way_of_loading_serves_the_model(packed, model_dir):
    """Import the entry point as the container does, in a Python that has only the standard library,
    numpy and xgboost (no site hooks, so not this project's editable install): only code/ serves."""
    booster, _ = packed
    rows = np.array([[0.9, 0.1, 0.3], [0.1, 0.5, 0.5]])
    csv = "\n".join(",".join(str(float(v)) for v in row) for row in rows)
    code_dir = model_dir / CODE_DIR
    site = [sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    bootstrap = f"import sys; sys.path[:0] = [{str(code_dir)!r}]; sys.path += {site!r}; exec({CONTAINER!r})"
    out = subprocess.run(
        [sys.executable, "-S", "-I", "-c", bootstrap, str(code_dir), ENTRY_POINT, str(model_dir), csv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=model_dir.parent,
    )
    assert out.returncode == 0, out.stderr
    served = json.loads(out.stdout)
    assert served["serving"].startswith(str(code_dir))  # the packed copy, not the repository's
    assert served["ours"] == ["inference", "serving"]
    assert served["content_type"] == "application/json"
    expected = booster.inplace_predict(rows)
    assert served["body"]["predictions"] == pytest.approx(expected.tolist(), abs=1e-6)
    assert served["body"]["model_version"] == "sm-v1" and served["body"]["threshold"] == 0.5


def test_the_registered_container_is_the_regions_image_in_script_mode(emulator, packed):
    sm = emulator.client("sagemaker")
    version = publish_artifact(emulator.client("s3"), sm, emulator.settings, "script-mode", packed[1])
    described = sm.describe_model_package(ModelPackageName=version.arn)
    [container] = described["InferenceSpecification"]["Containers"]
    assert container["Image"] == framework_image_uri(emulator.settings.region)
    assert container["Environment"] == script_mode_environment(emulator.settings)
    assert container["ModelDataUrl"] == version.model_data_url
