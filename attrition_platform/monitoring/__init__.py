"""Monitoring of the served model: pure functions (no Dagster) the monitoring assets call.

`drift` compares recent live inputs with the champion's own training rows (Evidently PSI);
`live_window` reads the window of `prediction_log` it needs; `reports` decides where the HTML
reports are kept. Evidently's telemetry is switched off before Evidently is first imported.
"""
