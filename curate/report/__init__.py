"""`curate report`: the label-quality audit as a self-contained HTML page + report.json.

- `data.build_report` computes every number (pure); `owners` holds the photographers section and
  its alarm rule, `training` the training section (and the check against another collection),
  `values` the JSON-ready values and the line of a section not yet run, `explain` the sentence beside
  each headline figure;
- `html.render_html` turns that dict into one HTML string (inline CSS, no scripts): the page in `html`,
  each section's body in `html_sections`, the escaping, tables and galleries they share in `html_blocks`;
- `plots` draws the matplotlib PNGs;
- `run.write_report` reads the workspace and writes `<workspace>/report/`.
"""
