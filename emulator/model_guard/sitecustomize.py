"""Opt-in for Python subprocesses of a test session: with RTINFER_MODEL_GUARD set and this directory
on PYTHONPATH, every botocore client the process creates is checked against the service model (see
rtinfer_model_guard); without the variable this does nothing."""

import os

if os.environ.get("RTINFER_MODEL_GUARD"):
    import rtinfer_model_guard

    rtinfer_model_guard.install_when_imported(os.environ["RTINFER_MODEL_GUARD"])
