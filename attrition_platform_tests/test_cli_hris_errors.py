"""User mistakes with HRIS exports, through the command a user runs: exit 2, one readable line,
no traceback, nothing from the records, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from attrition_platform.resources.lake import DeltaLake
from attrition_platform_tests.hris.factories import static_rows, time_aware_rows

ATTRITION = str(Path(sys.executable).with_name("attrition"))


def run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "DAGSTER_"))}
    env["ATTRITION_HOME"] = str(home)
    return subprocess.run(
        [ATTRITION, *args], capture_output=True, text=True, env=env, cwd=home.parent, timeout=300
    )


def refused_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout[-1000:], result.stderr[-2000:])
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_demo_on_a_csv_without_header_says_so_and_echoes_no_record(tmp_path: Path) -> None:
    frame = static_rows(40)
    path = tmp_path / "no_header.csv"
    frame.to_csv(path, index=False, header=False)
    home = tmp_path / "home"
    line = refused_line(run(["demo", "--hris", str(path)], home))
    assert "the first line does not look like a header" in line
    told = line.replace(str(path), "")
    assert [v for v in map(str, frame.iloc[0]) if len(v) > 1 and v in told] == []
    assert not DeltaLake(root=str(home / "lake")).exists("hris_employees")


def test_demo_on_a_header_only_export_refuses_it_as_having_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "header_only.csv"
    time_aware_rows(3).head(0).to_csv(path, index=False)
    home = tmp_path / "home"
    line = refused_line(run(["demo", "--hris", str(path)], home))
    assert "no rows" in line and str(path) in line
    assert not DeltaLake(root=str(home / "lake")).exists("hris_employees")


def test_demo_on_mixed_timezone_offsets_names_the_column(tmp_path: Path) -> None:
    frame = time_aware_rows(20)
    frame["snapshot_date"] = frame["snapshot_date"] + "T00:00:00+01:00"
    frame.loc[3, "snapshot_date"] = frame.loc[3, "snapshot_date"].replace("+01:00", "-05:00")
    path = tmp_path / "offsets.csv"
    frame.to_csv(path, index=False)
    line = refused_line(run(["demo", "--hris", str(path)], tmp_path / "home"))
    assert "column 'snapshot_date': mixed timezone offsets (+01:00, -05:00)" in line
    assert "rows 4" in line


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("company.xlsx", "expected a .csv or .parquet file (not '.xlsx')"),
        ("company", "the name has no suffix"),
        ("a_file/company.csv", "a_file is a file, not a directory"),
        ("a_directory.csv", "it is a directory"),
    ],
)
def test_generate_to_an_unsupported_or_unwritable_path_is_one_line(
    tmp_path: Path, target: str, fragment: str
) -> None:
    (tmp_path / "a_file").write_text("not a directory")
    (tmp_path / "a_directory.csv").mkdir()
    out = tmp_path / target
    args = ["generate", "--out", str(out), "--employees", "100", "--months", "2"]
    result = run(args, tmp_path / "home")
    assert fragment in refused_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_directory.csv", "a_file"]
