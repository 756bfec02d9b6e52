"""`curate filter`: ambiguous labels, geo outliers, exact and near duplicates, owner caps."""
