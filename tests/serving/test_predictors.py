"""serving.predictors: which evaluator an artifact gets, and the shape of what it returns. (The compiled
predictor's scores against XGBoost's are held in test_compiled_inference.py, which pays for a compile.)"""

import numpy as np
import pytest
import xgboost as xgb
from tl2cgen.exception import TL2cgenError

from serving.artifact import COMPILED_LIB, MODEL_FILE
from serving.predictors import CompiledPredictor, XGBoostPredictor, load_predictor


@pytest.fixture(scope="module")
def booster_dir(tmp_path_factory):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 4))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int)), 5)
    root = tmp_path_factory.mktemp("predictor")
    booster.save_model(str(root / MODEL_FILE))
    return root, booster, x


def test_a_plain_artifact_is_served_by_xgboost(booster_dir):
    root, booster, x = booster_dir
    predictor = load_predictor(root, {MODEL_FILE: "verified"})
    assert isinstance(predictor, XGBoostPredictor) and predictor.kind == "xgboost"
    scores = predictor.predict(x[:7])
    assert scores.shape == (7,) and scores.dtype == np.float64
    np.testing.assert_allclose(scores, booster.inplace_predict(x[:7]), rtol=1e-6)


def test_one_row_gives_one_score(booster_dir):
    root, _, x = booster_dir
    assert load_predictor(root, {MODEL_FILE: "verified"}).predict(x[:1]).shape == (1,)


def test_a_verified_compiled_library_takes_precedence(booster_dir, tmp_path):
    # a library among the verified files is what serves, never falling back to the trees beside it: a
    # file that is not a library fails to load, loudly
    root, _, _ = booster_dir
    (tmp_path / MODEL_FILE).write_bytes((root / MODEL_FILE).read_bytes())
    (tmp_path / COMPILED_LIB).parent.mkdir()
    (tmp_path / COMPILED_LIB).write_bytes(b"not a shared library")
    with pytest.raises(TL2cgenError, match="Failed to load dynamic shared library"):
        load_predictor(tmp_path, {MODEL_FILE: "verified", COMPILED_LIB: "verified"})
    assert CompiledPredictor.kind == "tl2cgen"


def test_a_library_that_was_not_verified_is_never_opened(booster_dir, tmp_path):
    root, _, _ = booster_dir
    (tmp_path / MODEL_FILE).write_bytes((root / MODEL_FILE).read_bytes())
    (tmp_path / COMPILED_LIB).parent.mkdir()
    (tmp_path / COMPILED_LIB).write_bytes(b"not a shared library")  # opening it would raise
    assert isinstance(load_predictor(tmp_path, {MODEL_FILE: "verified"}), XGBoostPredictor)
