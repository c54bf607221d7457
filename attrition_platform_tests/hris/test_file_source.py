"""File exports: both layouts load in canonical dtypes, and a bad export is refused in one go."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from attrition_platform import contract
from attrition_platform.contract import ContractError
from attrition_platform.hris.file_source import export_path_kind, read_export
from attrition_platform_tests.hris.factories import static_rows, time_aware_rows

INT_COLUMNS = [c.name for c in contract.STATIC_COLUMNS if c.kind == "int"]
CATEGORY_COLUMNS = [c.name for c in contract.STATIC_COLUMNS if c.kind == "category"]


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def _assert_static_dtypes(out: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(out.columns) == list(expected.columns)
    for name in INT_COLUMNS:
        assert out[name].dtype == "int64", name
    for name in CATEGORY_COLUMNS:
        assert out[name].dtype == object, name
        assert all(isinstance(v, str) for v in out[name]), name
    pd.testing.assert_frame_equal(out, expected.astype({n: "int64" for n in INT_COLUMNS}))


def test_static_csv_loads_with_contract_dtypes(tmp_path: Path) -> None:
    frame = static_rows(40)
    out = read_export(_write(frame, tmp_path / "ibm.csv"))
    _assert_static_dtypes(out, frame)


def test_static_parquet_loads_with_contract_dtypes_whatever_the_stored_types(
    tmp_path: Path,
) -> None:
    frame = static_rows(40)
    # Exports come out of other tools with dictionary, nullable and narrow types.
    stored = frame.astype(
        {"Department": "category", "Age": "Int64", "Attrition": "string", "Education": "int8"}
    )
    out = read_export(_write(stored, tmp_path / "ibm.parquet"))
    _assert_static_dtypes(out, frame)


def test_parquet_with_employee_number_as_index_still_loads(tmp_path: Path) -> None:
    frame = static_rows(10)
    path = tmp_path / "indexed.parquet"
    frame.set_index(contract.KEY).to_parquet(path)
    out = read_export(path)
    assert sorted(out.columns) == sorted(frame.columns)
    assert out[contract.KEY].tolist() == frame[contract.KEY].tolist()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_time_aware_export_loads(tmp_path: Path, suffix: str) -> None:
    frame = time_aware_rows(9)
    if suffix == ".parquet":
        # Parquet carries real date and boolean types rather than ISO text.
        for name in (contract.SNAPSHOT_DATE, "hire_date", "termination_date"):
            frame[name] = [None if v is None else dt.date.fromisoformat(v) for v in frame[name]]
    out = read_export(_write(frame, tmp_path / f"snapshots{suffix}"))

    assert len(out) == 18  # the same 9 employees at 2 snapshots is not a duplicate key
    assert "Attrition" not in out.columns  # terminations carry the label in this layout
    assert set(out[contract.SNAPSHOT_DATE]) == {dt.date(2024, 1, 31), dt.date(2024, 2, 29)}
    assert all(type(v) is dt.date for v in out["hire_date"])
    left = frame["termination_type"].notna().to_numpy()
    assert (out["termination_date"].notna().to_numpy() == left).all()
    assert set(out.loc[left, "termination_date"]) == {dt.date(2023, 12, 15)}
    assert out.loc[~left, "termination_type"].tolist() == [None] * int((~left).sum())
    assert out["opt_out"].dtype == bool
    assert out["opt_out"].tolist() == frame["opt_out"].tolist()
    for name in INT_COLUMNS:
        assert out[name].dtype == "int64", name


# Values planted in the bad export: none of them may show up in the error.
SECRETS = ("Thirty-four", "4242", "Astronautics", "Chartreuse")


def _bad_static_frame() -> pd.DataFrame:
    frame = static_rows(6).astype(object)
    frame = frame.drop(columns="JobSatisfaction")  # missing column
    frame["FavouriteColour"] = "Chartreuse"  # unknown column
    frame.loc[1, "Age"] = "Thirty-four"  # text in an int column -> data row 2
    frame.loc[2, "DistanceFromHome"] = 4242  # out of domain -> data row 3
    frame.loc[3, "Department"] = "Astronautics"  # bad category -> data row 4
    frame.loc[4, "MonthlyIncome"] = None  # empty value -> data row 5
    frame.loc[5, contract.KEY] = frame.loc[0, contract.KEY]  # duplicate key -> data row 6
    return frame


def test_bad_export_is_refused_with_every_problem_at_once_and_no_values(tmp_path: Path) -> None:
    path = _write(_bad_static_frame(), tmp_path / "bad.csv")
    with pytest.raises(ContractError) as info:
        read_export(path)

    err = info.value
    expected = {
        "JobSatisfaction": "missing from the extract",
        "FavouriteColour": "not part of the HRIS contract",
        "Age": "expected an integer; rows 2",
        "DistanceFromHome": "outside the domain (integer 1–29); rows 3",
        "Department": "value outside the domain (one of Sales, Research & Development, "
        "Human Resources); rows 4",
        "MonthlyIncome": "1 empty value(s); rows 5",
        contract.KEY: "duplicate key EmployeeNumber; rows 6",
    }
    assert len(err.problems) == len(expected), err.problems
    for column, fragment in expected.items():
        matching = [p for p in err.problems if p.startswith(f"column '{column}':")]
        assert len(matching) == 1, (column, err.problems)
        assert fragment in matching[0], matching[0]
    message = str(err)
    assert str(path) in message
    assert f"({len(expected)} problem(s))" in message
    for secret in SECRETS:
        assert secret not in message


def test_bad_parquet_export_is_refused_the_same_way(tmp_path: Path) -> None:
    frame = _bad_static_frame()
    # Parquet columns are typed: the broken int column arrives as text, as from a spreadsheet.
    frame["Age"] = frame["Age"].astype(str)
    frame["DistanceFromHome"] = frame["DistanceFromHome"].astype("int64")
    frame["MonthlyIncome"] = frame["MonthlyIncome"].astype("float64")
    frame[contract.KEY] = frame[contract.KEY].astype("int64")
    with pytest.raises(ContractError) as info:
        read_export(_write(frame, tmp_path / "bad.parquet"))

    columns = sorted(p.split("'")[1] for p in info.value.problems)
    assert columns == sorted(
        ["JobSatisfaction", "FavouriteColour", "Age", "DistanceFromHome", "Department",
         "MonthlyIncome", contract.KEY]
    )  # fmt: skip
    for secret in SECRETS:
        assert secret not in str(info.value)


def test_static_export_with_a_stray_time_column_is_refused(tmp_path: Path) -> None:
    frame = static_rows(3)
    frame["hire_date"] = "not-a-date-at-all"
    with pytest.raises(ContractError) as info:
        read_export(_write(frame, tmp_path / "half.csv"))
    assert info.value.problems == [
        "column 'hire_date': time-aware column in an extract without 'snapshot_date'"
    ]


def test_unreadable_parquet_is_a_contract_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"Jane Doe,42,Sales\n")
    with pytest.raises(ContractError, match="not a readable parquet export") as info:
        read_export(path)
    assert "Jane Doe" not in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    with pytest.raises(FileNotFoundError, match="HRIS export not found") as info:
        read_export(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", ["export.xlsx", "export.json", "export"])
def test_unsupported_suffix_is_refused_before_reading(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("EmployeeNumber\n1\n")
    with pytest.raises(ValueError, match=r"expected a \.csv or \.parquet file"):
        read_export(path)


def test_export_path_kind_is_decided_by_suffix_alone() -> None:
    assert export_path_kind("exports/2024-01.csv") == "csv"
    assert export_path_kind(Path("/no/such/dir/EXPORT.PARQUET")) == "parquet"
    with pytest.raises(ValueError, match="unsupported HRIS export 'hr.csv.gz'"):
        export_path_kind("hr.csv.gz")


def test_edge_values_are_reported_rather_than_crashing_or_slipping_through(
    tmp_path: Path,
) -> None:
    frame = time_aware_rows(4).astype(object)
    frame.loc[0, contract.KEY] = 0  # below an open-ended domain
    frame.loc[1, contract.KEY] = 2**63  # would overflow int64 in coerce()
    frame.loc[2, "Age"] = "thirty"  # text and a fraction in the same column
    frame.loc[3, "Age"] = 30.5
    path = _write(frame, tmp_path / "edges.csv")
    # Dates written as numbers would otherwise become 1970 timestamps.
    text = path.read_text().replace("2015-01-01", "20150101")
    path.write_text(text)

    with pytest.raises(ContractError) as info:
        read_export(path)
    assert info.value.problems == [
        "column 'Age': expected an integer; rows 3, 4",
        "column 'EmployeeNumber': outside the domain (integer ≥ 1); rows 1, 2",
        "column 'hire_date': expected a date (YYYY-MM-DD); rows 1, 5",
    ]


# -- exports that are not what they seem -----------------------------------------------------


@pytest.mark.parametrize("layout", ["static", "time-aware"])
def test_a_csv_without_its_header_is_named_so_and_echoes_nothing(
    tmp_path: Path, layout: str
) -> None:
    frame = static_rows(5) if layout == "static" else time_aware_rows(5)
    path = tmp_path / "no_header.csv"
    frame.to_csv(path, index=False, header=False)
    with pytest.raises(ContractError) as info:
        read_export(path)
    message = str(info.value)
    assert "the first line does not look like a header" in message
    assert "expected column names such as Age, Attrition" in message
    assert len(message.splitlines()) == 1
    told = message.replace(str(path), "")
    first_record = [str(v) for v in frame.iloc[0].tolist() if v is not None]
    leaked = [v for v in first_record if len(v) > 1 and v in told]
    assert leaked == []


def test_a_header_with_misspelt_names_is_still_reported_column_by_column(tmp_path: Path) -> None:
    # Lower-cased names are not data: the contract's per-column report is the useful one.
    path = _write(static_rows(3).rename(columns=str.lower), tmp_path / "lower.csv")
    with pytest.raises(ContractError) as info:
        read_export(path)
    assert "does not look like a header" not in str(info.value)
    unknown = "column 'age': not part of the HRIS contract (remove or rename it)"
    assert unknown in info.value.problems


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_header_only_export_is_refused_as_having_no_rows(tmp_path: Path, suffix: str) -> None:
    path = _write(static_rows(3).head(0), tmp_path / f"empty{suffix}")
    with pytest.raises(ContractError) as info:
        read_export(path)
    assert info.value.problems == [
        "no rows: the extract has no employees (only a header?); refused"
    ]
    assert str(info.value).count("\n") == 0


def test_mixed_timezone_offsets_in_a_date_column_are_a_contract_problem(tmp_path: Path) -> None:
    frame = time_aware_rows(4)
    frame["hire_date"] = frame["hire_date"] + "T00:00:00+01:00"
    frame.loc[5, "hire_date"] = "2015-03-01T00:00:00-05:00"
    path = _write(frame, tmp_path / "offsets.csv")
    with pytest.raises(ContractError) as info:
        read_export(path)
    assert info.value.problems == [
        "column 'hire_date': mixed timezone offsets (+01:00, -05:00): give plain dates "
        "(YYYY-MM-DD) or one offset for the whole column; rows 6"
    ]


def test_one_timezone_offset_for_a_whole_column_keeps_the_local_date(tmp_path: Path) -> None:
    frame = time_aware_rows(3)
    frame["hire_date"] = frame["hire_date"] + "T23:30:00-05:00"
    out = read_export(_write(frame, tmp_path / "one_offset.csv"))
    local = [dt.date.fromisoformat(d) for d in time_aware_rows(3)["hire_date"]]
    assert out["hire_date"].tolist() == local
