"""`curate review`: human decisions on what the stages flagged, stored as data and applied on every re-run."""
