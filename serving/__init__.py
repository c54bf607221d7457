"""The live scoring service for the HR portal (Litestar). It depends on the model bundle
(`attrition_platform.model.bundle`) and never imports Dagster or MLflow; installed alone with
`pip install .[serving]`. The service itself arrives with the serving issue."""
