"""The HRIS system as a Dagster resource with three kinds: synthetic, file and sql.

Each kind answers the same three questions — which extract dates exist, who was employed on a
date, and which exits were known by a date — so every asset downstream is kind-agnostic. Every
row leaving this resource has passed the data contract.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field

from attrition_platform import contract
from attrition_platform.contract import KEY, SNAPSHOT_DATE

DEFAULT_SYNTHETIC_END = "2026-11-01"


class HrisError(ValueError):
    """A clear, user-facing problem with the HRIS configuration or data."""


@functools.lru_cache(maxsize=4)
def _simulate(config: object) -> object:
    from attrition_platform.hris.synthetic import simulate

    return simulate(config)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=4)
def _read_file(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    from attrition_platform.hris.file_source import read_export

    return read_export(path)


@functools.lru_cache(maxsize=4)
def _read_sql(url: str, table: str | None, query: str | None) -> pd.DataFrame:
    from attrition_platform.hris.sql_source import read_sql

    return read_sql(url, table=table, query=query)


def _empty_terminations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            KEY: pd.Series(dtype="int64"),
            "termination_date": pd.Series(dtype=object),
            "termination_type": pd.Series(dtype=object),
        }
    )


class HrisSource(dg.ConfigurableResource):
    """Where employee extracts come from. `kind` picks the source; the rest configures it."""

    kind: Literal["synthetic", "file", "sql"] = Field(
        default="synthetic", description="synthetic (built-in simulation), file or sql."
    )
    # synthetic
    employees: int = Field(default=2000, ge=100, le=1_000_000, description="Initial headcount.")
    months: int = Field(default=36, ge=1, le=240, description="Monthly snapshots of history.")
    end_date: str = Field(default=DEFAULT_SYNTHETIC_END, description="Last snapshot (ISO date).")
    seed: int = Field(default=7, description="Simulation seed: same seed, same company.")
    opt_out_share: float = Field(default=0.03, ge=0.0, le=1.0)
    drift_start: str | None = Field(default=None, description="Drift knobs act from this date.")
    drift_income_factor: float = 1.0
    drift_overtime_share: float | None = None
    drift_new_job_role: str | None = None
    drift_risk_drivers: bool = False
    # file
    path: str | None = Field(default=None, description="CSV or Parquet export (kind=file).")
    static_snapshot_date: str | None = Field(
        default=None, description="Date given to a static export (default: today)."
    )
    # sql
    sql_url: str | None = Field(default=None, description="SQLAlchemy URL (kind=sql).")
    sql_table: str | None = None
    sql_query: str | None = None

    # -- loading -----------------------------------------------------------------------------
    def synthetic_config(self) -> object:
        from attrition_platform.hris.synthetic import SyntheticConfig

        return SyntheticConfig(
            employees=self.employees,
            months=self.months,
            end_date=_parse_date("end_date", self.end_date),
            seed=self.seed,
            opt_out_share=self.opt_out_share,
            drift_start=_parse_date("drift_start", self.drift_start) if self.drift_start else None,
            drift_income_factor=self.drift_income_factor,
            drift_overtime_share=self.drift_overtime_share,
            drift_new_job_role=self.drift_new_job_role,
            drift_risk_drivers=self.drift_risk_drivers,
        )

    def _company(self) -> object:
        return _simulate(self.synthetic_config())

    def _table(self) -> pd.DataFrame:
        """The whole export of a file or SQL source, validated against the contract."""
        if self.kind == "file":
            if not self.path:
                raise HrisError("HRIS kind 'file' needs `path` (a CSV or Parquet export)")
            p = Path(self.path).expanduser()
            if not p.is_file():
                raise HrisError(f"HRIS export not found: {p}")
            st = p.stat()
            return _read_file(str(p.resolve()), st.st_mtime_ns, st.st_size)
        if (self.sql_table is None) == (self.sql_query is None):
            raise HrisError(
                "HRIS kind 'sql' needs exactly one of `sql_table` (ATTRITION_HRIS_SQL_TABLE) or "
                "`sql_query` (ATTRITION_HRIS_SQL_QUERY)"
            )
        return _read_sql(self.resolved_sql_url(), self.sql_table, self.sql_query)

    def resolved_sql_url(self) -> str:
        """The database URL, read from its environment variable at the moment it is used.

        `hris_from_env` keeps the URL as a `dg.EnvVar` so that the secret never enters run
        config or the UI. Inside a run Dagster has already swapped in the value; a resource
        called directly (the CLI asks for the extract dates before any run) still holds the
        EnvVar, whose `str` would be the variable's *name*, so it is resolved here instead.
        """
        url = self.sql_url
        if isinstance(url, dg.EnvVar):
            name = url.env_var_name
            url = url.get_value()
            if not url:
                raise HrisError(f"HRIS kind 'sql' needs {name} (a SQLAlchemy URL); it is not set")
        if not url:
            raise HrisError("HRIS kind 'sql' needs `sql_url` (a SQLAlchemy URL)")
        return url

    def masked_sql_url(self) -> str:
        """The database URL as it may be shown or recorded: password replaced by ***."""
        from attrition_platform.hris.sql_source import masked_url

        return masked_url(self.resolved_sql_url())

    def is_static(self) -> bool:
        """A static export has no dates: it is one snapshot whose label is `Attrition`."""
        return self.kind != "synthetic" and not contract.is_time_aware(self._table())

    def static_date(self) -> dt.date:
        if self.static_snapshot_date:
            return _parse_date("static_snapshot_date", self.static_snapshot_date)
        return dt.datetime.now(dt.timezone.utc).date()

    # -- the three questions -----------------------------------------------------------------
    def extract_dates(self) -> list[dt.date]:
        if self.kind == "synthetic":
            return list(self._company().snapshot_dates())  # type: ignore[attr-defined]
        table = self._table()
        if not contract.is_time_aware(table):
            return [self.static_date()]
        return sorted(set(table[SNAPSHOT_DATE]))

    def employees_as_of(self, as_of: dt.date) -> pd.DataFrame:
        """Everyone employed on `as_of`, one row each, in contract dtypes."""
        if self.kind == "synthetic":
            return self._company().extract(as_of)  # type: ignore[attr-defined]
        table = self._table()
        if not contract.is_time_aware(table):
            out = table.copy()
            out[SNAPSHOT_DATE] = as_of
            out["opt_out"] = False
            return out
        rows = table[table[SNAPSHOT_DATE] == as_of]
        if rows.empty:
            available = ", ".join(d.isoformat() for d in sorted(set(table[SNAPSHOT_DATE]))[-5:])
            raise HrisError(f"the HRIS export has no extract for {as_of}; latest dates: {available}")
        rows = rows.reset_index(drop=True)
        if "termination_date" in rows:
            ended = rows["termination_date"].notna().to_numpy(dtype=bool)
            left = ended & (rows["termination_date"].where(ended, as_of) <= as_of).to_numpy(dtype=bool)
            rows = rows[~left].reset_index(drop=True)
            # An export taken later may carry exits that had not happened on `as_of`; the
            # snapshot must not know them.
            future = rows["termination_date"].notna().to_numpy(dtype=bool)
            rows.loc[future, "termination_date"] = None
            if "termination_type" in rows:
                rows.loc[future, "termination_type"] = None
        if "Attrition" in rows:
            rows["Attrition"] = "No"  # everyone returned is employed on `as_of`
        return rows

    def terminations_as_of(self, as_of: dt.date) -> pd.DataFrame:
        """Exits recorded with a termination date on or before `as_of`."""
        if self.kind == "synthetic":
            return self._company().terminations_as_of(as_of)  # type: ignore[attr-defined]
        return exits_known_by(self._table(), as_of)


def exits_known_by(table: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The exits an export records with a termination date on or before `as_of`, one per
    (employee, termination date): an export repeats a leaver's exit on every row of theirs, and
    a rehired employee who left twice has two exits, each labelling its own rows."""
    if "termination_date" not in table.columns:
        return _empty_terminations()
    rows = table[table["termination_date"].notna()]
    if rows.empty:  # an all-null column may come back as datetime64: nothing to compare
        return _empty_terminations()
    rows = rows[(pd.to_datetime(rows["termination_date"]) <= pd.Timestamp(as_of)).to_numpy()]
    out = rows[[KEY, "termination_date", "termination_type"]].drop_duplicates(
        [KEY, "termination_date"], keep="last"
    )
    return out.sort_values(["termination_date", KEY]).reset_index(drop=True)


def _parse_date(field: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise HrisError(f"HRIS setting '{field}': expected an ISO date like 2026-11-01") from None


def hris_from_env() -> HrisSource:
    """The HRIS source described by ATTRITION_HRIS_* variables (kind defaults to synthetic)."""
    env = os.environ
    kind = env.get("ATTRITION_HRIS_KIND")
    if kind is None:
        kind = "file" if env.get("ATTRITION_HRIS_PATH") else "synthetic"
    kwargs: dict[str, object] = {"kind": kind}
    mapping = {
        "ATTRITION_HRIS_PATH": ("path", str),
        "ATTRITION_HRIS_EMPLOYEES": ("employees", int),
        "ATTRITION_HRIS_MONTHS": ("months", int),
        "ATTRITION_HRIS_END_DATE": ("end_date", str),
        "ATTRITION_HRIS_SEED": ("seed", int),
        "ATTRITION_HRIS_STATIC_DATE": ("static_snapshot_date", str),
        "ATTRITION_HRIS_SQL_TABLE": ("sql_table", str),
        "ATTRITION_HRIS_SQL_QUERY": ("sql_query", str),
        # the synthetic generator's drift knobs (`attrition scenario drift` sets them)
        "ATTRITION_HRIS_DRIFT_START": ("drift_start", str),
        "ATTRITION_HRIS_DRIFT_INCOME_FACTOR": ("drift_income_factor", float),
        "ATTRITION_HRIS_DRIFT_OVERTIME_SHARE": ("drift_overtime_share", float),
    }
    for var, (name, cast) in mapping.items():
        if env.get(var):
            try:
                kwargs[name] = cast(env[var])
            except ValueError:
                raise HrisError(f"{var}: expected {cast.__name__}, got {env[var]!r}") from None
    if kind == "sql":
        kwargs["sql_url"] = dg.EnvVar("ATTRITION_HRIS_SQL_URL")
    return HrisSource(**kwargs)  # type: ignore[arg-type]
