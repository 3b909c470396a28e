"""serving.inference: input parsing, schema alignment, output formats, integrity check before load."""

from __future__ import annotations

import json
import shutil
import tarfile

import numpy as np
import pytest
import xgboost as xgb

from orchestration.model.artifact import pack_model_artifact
from serving.artifact import ArtifactIntegrityError
from serving.inference import (
    InvalidInputError,
    ParsedInput,
    input_fn,
    model_fn,
    output_fn,
    predict_fn,
    response_content_type,
)

FEATURES = ["amount", "hour", "velocity"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int)), 5)
    root = tmp_path_factory.mktemp("model")
    packed = pack_model_artifact(booster, FEATURES, 0.4, "v7", {}, root / "model.tar.gz")
    with tarfile.open(packed.path) as tar:
        tar.extractall(root / "extracted", filter="data")
    return root / "extracted"


@pytest.fixture(scope="module")
def model(model_dir):
    return model_fn(model_dir)


def test_model_fn_reads_the_schema(model):
    assert model.features == FEATURES
    assert model.threshold == 0.4
    assert model.model_version == "v7"


def test_model_fn_refuses_a_tampered_file(model_dir, tmp_path):
    tampered = tmp_path / "tampered"
    shutil.copytree(model_dir, tampered)  # the whole artifact, code/ included: its manifest lists it all
    schema = json.loads((tampered / "feature_schema.json").read_text())
    (tampered / "feature_schema.json").write_text(json.dumps({**schema, "threshold": 0.0}))
    with pytest.raises(ArtifactIntegrityError, match="sha256 mismatch for feature_schema.json"):
        model_fn(tampered)


def test_csv_one_and_many_rows():
    assert input_fn(b"1,2,3", "text/csv").matrix.tolist() == [[1, 2, 3]]
    parsed = input_fn(b"1,2,3\n4.5, -5 ,6e-1\n\n", "text/csv; charset=utf-8")
    assert parsed.matrix.tolist() == [[1, 2, 3], [4.5, -5, 0.6]]


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"1,2,3\n4,5", "text/csv", "CSV row 1 has 2 columns, row 0 has 3"),
        (b"1,2,3\n4,abc,6", "text/csv", "CSV row 1 column 1: 'abc' is not a number"),
        (b"1,,3", "text/csv", "CSV row 0 column 1: '' is not a number"),
        (b"", "text/csv", "CSV body has no rows"),
        (b"{bad", "application/json", "body is not valid JSON"),
        (b'{"rows": []}', "application/json", 'must be {"instances": [...]}'),
        (b"[[1, 2, 3], [1, 2]]", "application/json", "JSON row 1 has 2 values, row 0 has 3"),
        (b'[[1, "2", 3]]', "application/json", "JSON row 0 column 1: '2' is not a finite number"),
        (b"[[1, true, 3]]", "application/json", "JSON row 0 column 1: True is not a finite number"),
        (b"[5]", "application/json", "JSON row 0 must be a list of numbers or an object, got 5"),
        (b"1,2,3", "application/xml", "unsupported content type 'application/xml'"),
        (b"1,2,3", None, "unsupported content type None"),
    ],
)
def test_malformed_input_names_the_problem(body, content_type, message):
    with pytest.raises(InvalidInputError) as raised:
        input_fn(body, content_type)
    assert message in str(raised.value)


def test_json_shapes_all_predict_the_same(model):
    rows = [[0.5, 1.0, -2.0], [-1.0, 0.0, 3.0]]
    records = [dict(zip(FEATURES, row, strict=True)) for row in rows]
    bodies = [
        json.dumps({"instances": rows}),
        json.dumps(rows),
        json.dumps(records),
        json.dumps({"instances": records}),
    ]
    predictions = [predict_fn(input_fn(body.encode(), "application/json"), model).scores for body in bodies]
    expected = model.booster.inplace_predict(np.array(rows))
    for scores in predictions:
        np.testing.assert_allclose(scores, expected, rtol=1e-6)


def test_schema_mismatches_name_the_field(model):
    with pytest.raises(InvalidInputError, match="rows have 2 columns, the model expects 3"):
        predict_fn(ParsedInput(matrix=np.ones((1, 2))), model)
    with pytest.raises(InvalidInputError, match="row 1: missing feature 'velocity'"):
        predict_fn(
            ParsedInput(records=[{"amount": 1, "hour": 2, "velocity": 3}, {"amount": 1, "hour": 2}]), model
        )
    with pytest.raises(InvalidInputError, match=r"row 0: unknown feature\(s\) \['colour'\]"):
        predict_fn(ParsedInput(records=[{"amount": 1, "hour": 2, "velocity": 3, "colour": 1}]), model)
    with pytest.raises(InvalidInputError, match="row 0 feature 'hour': None is not a finite number"):
        predict_fn(ParsedInput(records=[{"amount": 1, "hour": None, "velocity": 3}]), model)


def test_output_formats(model):
    prediction = predict_fn(input_fn(b"1,2,3\n-1,0,1", "text/csv"), model)
    body, content_type = output_fn(prediction, "application/json")
    as_json = json.loads(body)
    assert content_type == "application/json" and as_json["model_version"] == "v7"
    assert as_json["predictions"] == pytest.approx(prediction.scores.tolist())
    body, content_type = output_fn(prediction, "text/csv")
    assert content_type == "text/csv"
    assert [float(line) for line in body.decode().splitlines()] == pytest.approx(prediction.scores.tolist())
    # the body as SageMaker's servers may hand it over
    assert input_fn(bytearray(b"1,2,3"), "text/csv").matrix.tolist() == [[1.0, 2.0, 3.0]]
    assert response_content_type(None) == "application/json"
    assert response_content_type("*/*") == "application/json"
    assert response_content_type("text/csv;q=0.9, application/json") == "text/csv"
    with pytest.raises(InvalidInputError, match="unsupported Accept 'image/png'"):
        response_content_type("image/png")
