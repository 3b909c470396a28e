import pytest

from orchestration.data.offline_features import compute_offline_features
from orchestration.data.simulation import SimulationConfig, simulate


@pytest.fixture(scope="session")
def history():
    """56 simulated days of features, events and labels (shared by the training and build tests)."""
    events, labels = simulate(SimulationConfig(n_customers=1500, n_terminals=400, n_days=56, seed=5))
    return compute_offline_features(events, labels), events, labels
