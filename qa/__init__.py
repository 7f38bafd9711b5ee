"""QA: frame, clip and narrative metrics, PASS/WARN/FAIL verdicts and the SQLite run log.

Empty until the QA issue lands.
"""
