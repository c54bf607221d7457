"""How the service runs its interpreter and event loop: the GIL hand-over interval it is
configured with, set at start, and the event loop uvicorn runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from attrition_platform_tests.serving.harness import running
from serving.config import ServingSettings


@pytest.fixture()
def restore_switch_interval():
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_the_gil_interval_comes_from_the_environment_in_milliseconds(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("ATTRITION_HOME", str(tmp_path))
    assert ServingSettings.from_env().gil_switch_ms == 0.5  # the default
    monkeypatch.setenv("ATTRITION_GIL_SWITCH_MS", "0.25")
    assert ServingSettings.from_env().gil_switch_ms == 0.25


def test_a_started_service_hands_the_gil_over_at_its_configured_interval(tmp_path: Path,
                                                                          restore_switch_interval) -> None:
    sys.setswitchinterval(0.005)
    with running(tmp_path / "home", gil_switch_ms=0.25):
        assert sys.getswitchinterval() == pytest.approx(0.00025)


def test_zero_keeps_the_interpreters_own_interval(tmp_path: Path, restore_switch_interval) -> None:
    sys.setswitchinterval(0.005)
    with running(tmp_path / "home", gil_switch_ms=0.0):
        assert sys.getswitchinterval() == pytest.approx(0.005)


def test_the_event_loop_is_asyncio_unless_the_environment_names_another(monkeypatch: pytest.MonkeyPatch) -> None:
    from serving.server import loop_from_env

    monkeypatch.delenv("ATTRITION_SERVING_LOOP", raising=False)
    assert loop_from_env() == "asyncio"  # uvloop starves connections under load (server.py)
    monkeypatch.setenv("ATTRITION_SERVING_LOOP", " UVLOOP ")
    assert loop_from_env() == "uvloop"


@pytest.mark.parametrize(("variable", "raw", "message"), [
    ("ATTRITION_GIL_SWITCH_MS", "nan", "ATTRITION_GIL_SWITCH_MS must be a finite number of milliseconds, not 'nan'"),
    ("ATTRITION_GIL_SWITCH_MS", "inf", "ATTRITION_GIL_SWITCH_MS must be a finite number of milliseconds, not 'inf'"),
    ("ATTRITION_GIL_SWITCH_MS", "-1", "ATTRITION_GIL_SWITCH_MS must be at least 0"),
    ("ATTRITION_GIL_SWITCH_MS", "5000", "ATTRITION_GIL_SWITCH_MS must be at most 100 milliseconds"),
    ("ATTRITION_FALLBACK_AFTER_SECONDS", "nan", "ATTRITION_FALLBACK_AFTER_SECONDS must be a finite number of seconds"),
])
def test_a_duration_that_is_not_a_usable_number_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, raw: str, message: str
) -> None:
    from serving.config import ConfigError

    monkeypatch.setenv("ATTRITION_HOME", str(tmp_path))
    monkeypatch.setenv(variable, raw)
    with pytest.raises(ConfigError) as caught:
        ServingSettings.from_env()
    assert message in str(caught.value)
