"""The contracts between the Dagster graph and serving: one module each side imports.

Only numpy, msgspec, deltalake and arro3 here (no dagster, mlflow, pandas or pyarrow), so the
serving image can import it. See docs/serving-contracts.md.
"""
