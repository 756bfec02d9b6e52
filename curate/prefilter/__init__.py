"""Pre-classification on embeddings: weak-tag topic filter and label-issue detection."""
