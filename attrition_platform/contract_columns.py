"""The HRIS contract's column table: names, kinds and domains, with no pandas and no numpy.

Split from `contract.py` (which validates whole extracts with pandas) so that the model bundle
and serving can check a scoring request against the very same domains while importing neither
pandas nor Dagster. `contract.py` re-exports every name here: import from either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KEY = "EmployeeNumber"
SNAPSHOT_DATE = "snapshot_date"


@dataclass(frozen=True)
class Column:
    """One contract column: `kind` is int, category or date; int domains are inclusive."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    categories: tuple[str, ...] = ()
    nullable: bool = False
    required: bool = True
    doc: str = ""

    def describe(self) -> str:
        if self.kind == "category":
            return "one of " + ", ".join(self.categories)
        if self.kind == "int":
            # EmployeeNumber has no upper bound: an open end must not crash the error report.
            if self.low is not None and self.high is not None:
                return f"integer {self.low:g}–{self.high:g}"
            if self.low is not None:
                return f"integer ≥ {self.low:g}"
            if self.high is not None:
                return f"integer ≤ {self.high:g}"
        return self.kind


def _int(name: str, low: float | None = None, high: float | None = None, **kw: Any) -> Column:
    return Column(name, "int", low, high, **kw)


def _cat(name: str, *categories: str, **kw: Any) -> Column:
    return Column(name, "category", categories=categories, **kw)


JOB_ROLES = (
    "Sales Executive",
    "Research Scientist",
    "Laboratory Technician",
    "Manufacturing Director",
    "Healthcare Representative",
    "Manager",
    "Sales Representative",
    "Research Director",
    "Human Resources",
)

STATIC_COLUMNS: tuple[Column, ...] = (
    _int("Age", 18, 60),
    _cat("Attrition", "Yes", "No", doc="left the company"),
    _cat("BusinessTravel", "Non-Travel", "Travel_Rarely", "Travel_Frequently"),
    _int("DailyRate", 1, 10_000),
    _cat("Department", "Sales", "Research & Development", "Human Resources"),
    _int("DistanceFromHome", 1, 29),
    _int("Education", 1, 5),
    _cat(
        "EducationField",
        "Life Sciences",
        "Medical",
        "Marketing",
        "Technical Degree",
        "Human Resources",
        "Other",
    ),
    _int("EmployeeCount", 1, 1),
    _int(KEY, 1, None),
    _int("EnvironmentSatisfaction", 1, 4),
    _cat("Gender", "Male", "Female"),
    _int("HourlyRate", 1, 1_000),
    _int("JobInvolvement", 1, 4),
    _int("JobLevel", 1, 5),
    _cat("JobRole", *JOB_ROLES),
    _int("JobSatisfaction", 1, 4),
    _cat("MaritalStatus", "Single", "Married", "Divorced"),
    _int("MonthlyIncome", 500, 100_000),
    _int("MonthlyRate", 1, 100_000),
    _int("NumCompaniesWorked", 0, 9),
    _cat("Over18", "Y"),
    _cat("OverTime", "Yes", "No"),
    _int("PercentSalaryHike", 11, 25),
    _int("PerformanceRating", 1, 4),
    _int("RelationshipSatisfaction", 1, 4),
    _int("StandardHours", 80, 80),
    _int("StockOptionLevel", 0, 3),
    _int("TotalWorkingYears", 0, 40),
    _int("TrainingTimesLastYear", 0, 6),
    _int("WorkLifeBalance", 1, 4),
    _int("YearsAtCompany", 0, 40),
    _int("YearsInCurrentRole", 0, 18),
    _int("YearsSinceLastPromotion", 0, 15),
    _int("YearsWithCurrManager", 0, 17),
)

TIME_COLUMNS: tuple[Column, ...] = (
    Column(SNAPSHOT_DATE, "date", doc="extract date"),
    Column("hire_date", "date"),
    Column("termination_date", "date", nullable=True, doc="null while employed"),
    _cat("termination_type", "voluntary", "involuntary", nullable=True),
    Column("opt_out", "bool", doc="employee opted out of analytics"),
)

COLUMNS: dict[str, Column] = {c.name: c for c in STATIC_COLUMNS + TIME_COLUMNS}
STATIC_NAMES: tuple[str, ...] = tuple(c.name for c in STATIC_COLUMNS)
CATEGORICAL: tuple[str, ...] = tuple(c.name for c in STATIC_COLUMNS if c.kind == "category")
TERMINATION_COLUMNS: tuple[str, ...] = (KEY, "termination_date", "termination_type")
PROTECTED_ATTRIBUTES: tuple[str, ...] = ("Gender", "Age")

# Categorical columns whose domain may grow between extracts (a reorganisation adds job roles):
# the file/SQL sources accept new values when asked to, and scoring treats them as categories
# the model has not seen (its unseen-category policy) instead of as invalid input.
OPEN_CATEGORIES: tuple[str, ...] = ("JobRole",)
