"""The house rules of the layout, read from the source: which code may import what.

- Inside orchestration/, only the wiring, the app layer and definitions.py know Dagster: the lifecycle
  library is plain functions, tested without it.
- serving/ is zipped into the Lambda package and the model artifact: it imports nothing of ours from
  outside serving/.
- Business code never imports the emulator (only the app layer starts it) nor the Dagster definitions.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"orchestration", "serving", "emulator", "assets", "jobs", "sensors", "bench"}


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _dagster_aware(path: Path) -> bool:
    relative = _relative(path)
    return relative == "orchestration/definitions.py" or relative.startswith(
        ("orchestration/wiring/", "orchestration/app/")
    )


def _offenders(folder: str, forbidden, applies=lambda path: True) -> dict[str, list[str]]:
    """Files of `folder` (where the rule applies) and the forbidden modules each imports."""
    found = {}
    for path in _files(folder):
        if applies(path):
            bad = sorted(m for m in _imports(path) if forbidden(m))
            if bad:
                found[_relative(path)] = bad
    return found


def _is_dagster(module: str) -> bool:
    return _top(module) == "dagster" or _top(module).startswith("dagster_")


def _library(path: Path) -> bool:
    return not _dagster_aware(path)


def test_only_wiring_app_and_definitions_import_dagster():
    assert _offenders("orchestration", _is_dagster, _library) == {}


def test_the_library_does_not_reach_into_the_code_location_or_the_emulator():
    reach = {"assets", "jobs", "sensors", "emulator", "bench"}
    assert _offenders("orchestration", lambda m: _top(m) in reach, _library) == {}


def test_serving_imports_nothing_of_ours_outside_itself():
    outside = (OURS - {"serving"}) | {"dagster"}
    assert _offenders("serving", lambda m: _top(m) in outside) == {}


@pytest.mark.parametrize("folder", ["assets", "jobs", "sensors", "serving"])
def test_business_code_never_imports_the_emulator(folder):
    assert _offenders(folder, lambda m: _top(m) == "emulator") == {}


def test_the_rules_see_imports_at_any_depth(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text("def f():\n    from dagster import asset\n    import emulator.control\n")
    assert _imports(source) == {"dagster", "emulator.control"}


MIRRORED = ("orchestration", "assets", "jobs", "sensors", "serving")
# Modules with no logic of their own: names and asset-job selections.
THIN = {
    "orchestration/definitions.py",  # the code location: tests/orchestration/test_definitions.py
    "orchestration/endpoint/names.py",
    "jobs/lifecycle.py",
    "jobs/traffic.py",
    "jobs/drift.py",
    "assets/features.py",
    "serving/consumer/clients.py",
}


# Modules whose behaviour is what an end-to-end or integration test runs, and the test that holds it.
COVERED_BY = {
    "orchestration/app/cli.py": "tests/e2e/test_demo.py",
    "orchestration/app/demo.py": "tests/e2e/test_demo.py",
    "orchestration/app/demo_loop.py": "tests/e2e/test_demo.py",
    "orchestration/app/runs.py": "tests/e2e/test_demo.py",
    "orchestration/app/signals.py": "tests/e2e/test_demo.py",  # the demo runs as a background job would
    "orchestration/app/status.py": "tests/e2e/test_demo.py",
    "orchestration/data/offline_features.py": "tests/serving/test_features.py",  # online/offline parity
    "orchestration/model/artifact.py": "tests/serving/test_artifact.py",
    "orchestration/wiring/resources.py": "tests/orchestration/test_definitions.py",
    "assets/data.py": "tests/orchestration/test_definitions.py",
    "assets/deployment.py": "tests/orchestration/test_definitions.py",
    "assets/registry.py": "tests/orchestration/test_definitions.py",
    "assets/stream.py": "tests/orchestration/test_definitions.py",
    "assets/monitoring.py": "tests/e2e/test_demo.py",
    "assets/traffic.py": "tests/e2e/test_demo.py",
    "jobs/endpoint.py": "tests/orchestration/endpoint/test_strategies.py",
    "assets/dead_letters.py": "tests/jobs/test_dead_letters.py",  # materialized beside the DLQ jobs
    # shown and materialized over the stack that test sends traffic through
    "orchestration/app/status_cost.py": "tests/orchestration/monitoring/test_usage.py",
    "assets/cost.py": "tests/orchestration/monitoring/test_usage.py",
}


def _has_logic(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for node in tree.body)


def _mirror_gaps() -> list[str]:
    gaps = []
    for folder in MIRRORED:
        for path in _files(folder):
            relative = _relative(path)
            if path.name == "__init__.py" or relative in THIN or not _has_logic(path):
                continue
            if relative in COVERED_BY:
                assert (ROOT / COVERED_BY[relative]).exists(), f"{relative}: {COVERED_BY[relative]} is gone"
                continue
            tests = ROOT / "tests" / path.parent.relative_to(ROOT)
            if not list(tests.glob(f"test_{path.stem}.py")) + list(tests.glob(f"test_{path.stem}_*.py")):
                gaps.append(relative)
    return gaps


def test_every_module_with_logic_has_a_mirrored_test_file():
    assert _mirror_gaps() == []
