"""The suite's model guard: every botocore call a test makes, in the test process and in the processes
it starts, is checked against botocore's service models (rtinfer_model_guard), and a test during
which a call broke the model fails with the list of what was wrong.

- The test process: every client, wherever it is created (orchestration.aws.aws_client, the
  consumer's own clients, Dagster runs executed in process, dagster-aws), is checked in memory.
- Python subprocesses (the emulator, `rtinfer demo` and the processes it starts): the session puts
  the guard's directory first on PYTHONPATH, and its sitecustomize installs the guard when
  RTINFER_MODEL_GUARD, the session's report directory, is set.
- Lambda function workers (`python -S`, a clean environment): the emulator sees RTINFER_MODEL_GUARD,
  starts them through the guard's launcher and passes the variable on.
Processes other than this one report as JSON lines in the report directory, read after each phase
of each test.

`-p no:model_guard` turns it off (to measure what it costs).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import rtinfer_model_guard as guard

GUARD_DIR = Path(guard.__file__).resolve().parent
_SHOWN = 25


class _ReportFiles:
    """New whole lines of the report files other processes append to."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._offsets: dict[str, int] = {}

    def new(self) -> list[dict]:
        found = []
        for path in sorted(self.directory.glob("*.jsonl")):
            offset = self._offsets.get(path.name, 0)
            try:
                if path.stat().st_size <= offset:
                    continue
                with path.open("rb") as file:
                    file.seek(offset)
                    data = file.read()
            except OSError:
                continue
            whole = data[: data.rfind(b"\n") + 1]  # a line being written is read next time
            self._offsets[path.name] = offset + len(whole)
            found += [json.loads(line) for line in whole.splitlines() if line.strip()]
        return found


def format_violations(violations: list[dict]) -> str:
    counts = Counter(guard.describe(v) for v in violations)
    lines = [f"{len(counts)} botocore model violation(s):"]
    for text, count in list(counts.items())[:_SHOWN]:
        lines.append(f"  {text}" + (f"  (x{count})" if count > 1 else ""))
    if len(counts) > _SHOWN:
        lines.append(f"  ... and {len(counts) - _SHOWN} more")
    return "\n".join(lines)


class ModelGuardPlugin:
    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="rtinfer-model-guard-"))
        self.files = _ReportFiles(self.directory)
        self._saved = {name: os.environ.get(name) for name in (guard.ENV, "PYTHONPATH")}
        os.environ[guard.ENV] = str(self.directory)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GUARD_DIR), self._saved["PYTHONPATH"]]))
        guard.install(label="the test process")  # which reports in memory
        guard.drain()

    def collect(self) -> list[dict]:
        return guard.drain() + self.files.new()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        found = self.collect()
        if not found:
            return
        text = format_violations(found)
        if report.failed:
            report.sections.append(("botocore model violations", text))
        else:
            report.outcome = "failed"
            report.longrepr = f"{item.nodeid} ({report.when}): {text}"

    def pytest_sessionfinish(self, session) -> None:
        found = self.collect()  # reported after the last test's teardown
        if found:
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(format_violations(found), red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def close(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(self.directory, ignore_errors=True)


def _xdist_controller(config: pytest.Config) -> bool:
    """The process that only hands tests to xdist workers: the workers run the guard themselves."""
    return not hasattr(config, "workerinput") and getattr(config.option, "dist", "no") != "no"


def pytest_configure(config: pytest.Config) -> None:
    if not _xdist_controller(config):
        config.pluginmanager.register(ModelGuardPlugin(), "model_guard_session")


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin("model_guard_session")
    if plugin is not None:
        plugin.close()
