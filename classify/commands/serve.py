"""`classify serve RUN`: the command around classify.serve.create_app (uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from classify.serve import ServeSettings, access_log_config, create_app
from curate.cli.common import user_errors
from curate.cli.options import config_options
from curate.console import console
from curate.listen import check_listen
from curate.pipeline.settings import build_config


@user_errors
@config_options(ServeSettings, layered=False)
def serve(
    run: Annotated[Path, typer.Argument(help="Run directory from `classify train` (model.safetensors + model.json).")],
    settings: dict | None = None,  # one flag per ServeSettings field (curate/cli/options.py)
) -> None:
    """Serve a trained run over HTTP: POST /predict, GET /health, docs at /docs."""
    import uvicorn

    from classify.model import Predictor
    from classify.predict import gate_for

    config = build_config(ServeSettings, {}, "", flags=settings, command="classify serve")
    host, port, top_k, limits = config.host, config.port, config.top_k, config.limits()
    predictor = Predictor(run, config.device)
    gate, note = gate_for(run, config.gate, predictor.feature_dim)
    check_listen(host, port)  # else uvicorn logs the error and exits with its own code, 3
    app = create_app(predictor, top_k=top_k, limits=limits, gate=gate)
    url = f"http://{host}:{port}"
    gated = f", topic gate at {gate.threshold:.3f}" if gate else ", no topic gate"
    if note:
        console.print(note, highlight=False, soft_wrap=True)
    console.print(f"serving {run} ({predictor.meta.backbone}, {len(predictor.classes)} classes, "
                  f"{predictor.device}{gated}) at {url} — docs at {url}/docs", highlight=False, soft_wrap=True)
    uvicorn.run(app, host=host, port=port, log_level="info", log_config=access_log_config())
