"""The script-mode entry point packed as code/inference.py in model.tar.gz.

SageMaker's XGBoost container imports this module (SAGEMAKER_PROGRAM=inference.py) with code/ on its
path and serves the four functions below; code/serving/ beside it holds their implementation.
"""

from serving.inference import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]
