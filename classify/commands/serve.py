"""`classify serve RUN`: the command around classify.serve.create_app (uvicorn)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from classify.serve import (
    DEFAULT_DECODE_BUDGET_BYTES,
    DEFAULT_DECODE_THREADS,
    DEFAULT_MAX_PENDING,
    MiB,
    ServeLimits,
    create_app,
)
from curate.cli.common import user_errors
from curate.console import console
from curate.errors import UsageError
from curate.listen import check_listen


@user_errors
def serve(
    run: Annotated[Path, typer.Argument(help="Run directory from `classify train` (model.safetensors + model.json).")],
    host: Annotated[str, typer.Option("--host", help="Interface to listen on; 0.0.0.0 for every one.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA > MPS > CPU), cuda, mps or cpu.")] = "auto",
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", help="Largest request body accepted.")] = 20,
    top_k: Annotated[int, typer.Option("--top-k", help="Labels per answer unless ?top_k= says otherwise.")] = 3,
    decode_budget_mb: Annotated[float, typer.Option(
        "--decode-budget-mb", help="Full-size decode buffers allowed at once, all requests together.")]
        = DEFAULT_DECODE_BUDGET_BYTES / 10**6,
    max_pending: Annotated[int, typer.Option(
        "--max-pending", help="Uploads decoding or waiting at once; more are answered 503.")] = DEFAULT_MAX_PENDING,
    decode_threads: Annotated[int, typer.Option("--decode-threads", help="Images decoded in parallel.")]
        = DEFAULT_DECODE_THREADS,
    use_gate: Annotated[bool, typer.Option("--gate/--no-gate", help="Say off_topic and topic_score from the run's "
                                           "topic gate (default); --no-gate: the classifier alone.")] = True,
) -> None:
    """Serve a trained run over HTTP: POST /predict, GET /health, docs at /docs."""
    import uvicorn

    from classify.model import Predictor
    from classify.predict import gate_for

    if top_k < 1 or not 1 <= max_upload_mb * MiB < math.inf or not 0 <= port <= 65535:
        raise UsageError("--top-k must be at least 1, --max-upload-mb at least one byte (finite), "
                         "--port within 0-65535")
    if not 1 <= decode_budget_mb * 10**6 < math.inf:
        raise UsageError(f"--decode-budget-mb must be a finite number of at least one byte, got {decode_budget_mb}")
    limits = ServeLimits(max_upload_bytes=int(max_upload_mb * MiB), decode_budget_bytes=int(decode_budget_mb * 10**6),
                         max_pending=max_pending, decode_threads=decode_threads)
    predictor = Predictor(run, device)
    gate, note = gate_for(run, use_gate, predictor.feature_dim)
    check_listen(host, port)  # else uvicorn logs the error and exits with its own code, 3
    app = create_app(predictor, top_k=top_k, limits=limits, gate=gate)
    url = f"http://{host}:{port}"
    gated = f", topic gate at {gate.threshold:.3f}" if gate else ", no topic gate"
    if note:
        console.print(note, highlight=False, soft_wrap=True)
    console.print(f"serving {run} ({predictor.meta.backbone}, {len(predictor.classes)} classes, "
                  f"{predictor.device}{gated}) at {url} — docs at {url}/docs", highlight=False, soft_wrap=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
