"""CSV files people open in a spreadsheet: cells that would run as formulas are defused.

One rule for every CSV the toolkit writes for people (the report's attribution, the export's
ATTRIBUTION.csv and manifest): kept light (pandas only) so writers need not import the report.
"""

from __future__ import annotations

import pandas as pd

FORMULA_PATTERN = r"[=+\-@\t\r]"  # a first character that makes a spreadsheet read a formula


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell a spreadsheet would run as a formula (=, +, -, @, tab or CR
    first) prefixed with a quote, as OWASP advises for CSV files opened in Excel or Calc."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            text = out[column].astype("string")
            risky = text.str.match(FORMULA_PATTERN).fillna(False).astype(bool)
            out[column] = out[column].mask(risky, "'" + text)
    return out
