"""`curate report`: the label-quality audit as a self-contained HTML page + report.json.

- `data.build_report` computes every number (pure);
- `html.render_html` turns that dict into one HTML string (inline CSS, no scripts);
- `plots` draws the matplotlib PNGs;
- `run.write_report` reads the workspace and writes `<workspace>/report/`.
"""
