"""The two ways an artifact's trees are evaluated: XGBoost itself, or the TL2cgen-compiled library.

A compiled artifact (one whose verified manifest lists serving.artifact.COMPILED_LIB) is served by
the library, which answers small batches several times faster; anything else by XGBoost. Both
return the same scores (within float32 rounding). tl2cgen is imported only for compiled artifacts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import xgboost as xgb

from serving.artifact import COMPILED_LIB, MODEL_FILE


class Predictor(Protocol):
    kind: str

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Scores for a (rows, features) float matrix, as a 1-D float64 array."""


class XGBoostPredictor:
    kind = "xgboost"

    def __init__(self, model_path: Path) -> None:
        self.booster = xgb.Booster()
        self.booster.load_model(str(model_path))
        self.booster.set_param({"nthread": 1})  # one request per worker at a time: threads only add latency

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        scores = self.booster.inplace_predict(matrix, validate_features=False)
        return np.asarray(scores, dtype=np.float64).reshape(-1)


class CompiledPredictor:
    kind = "tl2cgen"

    def __init__(self, library_path: Path) -> None:
        import tl2cgen  # only compiled artifacts pay for this import

        self._tl2cgen = tl2cgen
        self._predictor = tl2cgen.Predictor(str(library_path), nthread=1)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        scores = self._predictor.predict(self._tl2cgen.DMatrix(matrix))
        return np.asarray(scores, dtype=np.float64).reshape(-1)


def load_predictor(model_dir: Path, verified: dict[str, str]) -> Predictor:
    """The predictor for an artifact whose files `verified` lists (name -> sha256, as checked by
    serving.artifact.verify_manifest). A native library is loaded (and its constructors run) only
    when it is among them: one merely present on disk is never opened."""
    if COMPILED_LIB in verified and (model_dir / COMPILED_LIB).is_file():
        return CompiledPredictor(model_dir / COMPILED_LIB)
    return XGBoostPredictor(model_dir / MODEL_FILE)
