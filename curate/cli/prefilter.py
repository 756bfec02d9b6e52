"""`curate prefilter`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from curate.cli.common import JsonOption, WorkspaceOption, print_table, user_errors, workspace
from curate.console import console
from curate.errors import UsageError
from curate.recipes import load_recipe


def _config(topic: str | None, recipe: str | None, given: dict):
    """PrefilterConfig: a flag given wins over the recipe's [prefilter] section, which wins over the defaults."""
    from curate.pipeline import build_config
    from curate.prefilter.stage import PrefilterConfig

    chosen = load_recipe(recipe) if recipe else None
    if topic is None and chosen is not None:
        topic = chosen.topic
    if not topic:
        raise UsageError("say which tag marks the topic: --topic skyline (or --recipe with a topic)")
    settings = {**(chosen.stage_defaults("prefilter") if chosen else {}),
                **{key: value for key, value in given.items() if value is not None}}
    if isinstance(settings.get("threshold"), str):
        settings["threshold"] = _threshold(settings["threshold"])
    if settings.get("drop_label_issues") or settings.get("relabel"):
        settings["label_issues"] = True
    where = f"curate prefilter (recipe {recipe} [prefilter])" if chosen else "curate prefilter"
    return build_config(PrefilterConfig, settings, where, topic=topic)


def _threshold(text: str) -> float | None:
    if text.strip().lower() == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"--threshold must be auto or a number between 0 and 1, got {text!r}") from None


@user_errors
def prefilter(
    workspace_path: WorkspaceOption = None,
    topic: Annotated[str | None, typer.Option(
        "--topic", help="Topic tag used as the weak label (default: the recipe's topic).")] = None,
    threshold: Annotated[str | None, typer.Option(
        "--threshold",
        help="auto (Otsu's cut when the out-of-fold scores are bimodal, else calibrated on tagged vs untagged scores) "
             "or a probability in (0, 1) (default: recipe, else auto).",
    )] = None,
    folds: Annotated[int | None, typer.Option(
        "--folds", help="Out-of-fold folds, grouped by photographer (default: recipe, else 5).")] = None,
    regularisation: Annotated[float | None, typer.Option(
        "--C", help="Inverse regularisation strength of the logistic regression (default: recipe, else 1).")] = None,
    label_issues: Annotated[bool | None, typer.Option(
        "--label-issues/--no-label-issues",
        help="Flag probable label errors (confident learning; default: recipe, else on).", show_default=False)] = None,
    drop_label_issues: Annotated[bool, typer.Option(
        "--drop-label-issues", help="Drop flagged label issues (reason label_issue) instead of only flagging them.",
    )] = False,
    geo_rescue: Annotated[bool | None, typer.Option(
        "--geo-rescue/--no-geo-rescue",
        help="Keep the filter's geo outliers whose pixels agree with their label and the topic, as geo_rescued "
             "(default: recipe, else on).",
        show_default=False)] = None,
    geo_rescue_rule: Annotated[str | None, typer.Option(
        "--geo-rescue-rule",
        help="class_threshold: the label must be the confident-learning class (its probability reaches the class's "
             "mean self-confidence); argmax: the most probable class (default: recipe, else class_threshold).",
    )] = None,
    relabel: Annotated[bool | None, typer.Option(
        "--relabel/--no-relabel",
        help="Replace confidently wrong labels by suggested_label, keeping original_label (default: recipe, else off).",
        show_default=False)] = None,
    relabel_precision: Annotated[float | None, typer.Option(
        "--relabel-precision",
        help="Expected share of right new labels the relabel margin is cut for, from 0.5 to below 1 (default: recipe, "
             "else 0.9).",
    )] = None,
    embeddings: Annotated[str | None, typer.Option(
        "--embeddings", help="Embedding cache to use (default: the last `curate embed` run's).")] = None,
    recipe: Annotated[str | None, typer.Option(
        "--recipe",
        help="Dataset recipe: its topic is the default --topic, its [prefilter] section the default settings.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Fold assignment seed (default: recipe, else 0).")] = None,
    force: Annotated[bool, typer.Option(
        "--force",
        help="Drop below the threshold even when the sanity checks hold the drops (tag on most photos, too many tagged "
             "photos dropped, no calibrated cut; recipe: force = true).",
    )] = False,
    mode: Annotated[str | None, typer.Option(
        "--mode",
        help="embeddings (logistic regression, fast) or finetune (a binary CNN per fold; for GPUs) (default: recipe, "
             "else embeddings).",
    )] = None,
    head_epochs: Annotated[int, typer.Option("--head-epochs", help="finetune: frozen-backbone epochs per fold.")] = 1,
    epochs: Annotated[int, typer.Option("--epochs", help="finetune: full fine-tuning epochs per fold.")] = 2,
    image_size: Annotated[int, typer.Option("--image-size", help="finetune: training crop side.")] = 224,
    batch_size: Annotated[int, typer.Option("--batch-size", help="finetune: batch size.")] = 32,
    device: Annotated[str, typer.Option("--device", help="finetune: auto, cuda, mps or cpu.")] = "auto",
    as_json: JsonOption = False,
) -> None:
    """Drop off-topic photos with a pre-classifier trained on the topic tag; recover untagged
    on-topic ones; flag label issues."""
    from curate.prefilter.run import run_prefilter

    given = {"threshold": threshold, "folds": folds, "regularisation": regularisation, "label_issues": label_issues,
             "drop_label_issues": drop_label_issues or None, "seed": seed, "force": force or None, "mode": mode,
             "geo_rescue": geo_rescue, "geo_rescue_rule": geo_rescue_rule, "relabel": relabel,
             "relabel_precision": relabel_precision}
    config = _config(topic, recipe, given)
    mode = config.mode
    scorer = None
    if mode == "finetune":  # the CLI layer may import classify; curate's library never does
        from classify.config import TrainConfig
        from classify.steps import topic_scorer

        scorer = topic_scorer(TrainConfig(head_epochs=head_epochs, epochs=epochs, image_size=image_size,
                                          batch_size=batch_size, device=device, seed=config.seed))
    report = run_prefilter(workspace(workspace_path), config, embeddings, scorer)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(report.summary(), highlight=False, soft_wrap=True, markup=False)
    console.print(f"topic {report.topic!r}: {report.scored:,} photos scored out of fold; threshold "
                  f"{report.threshold:.3f} ({report.threshold_method}; "
                  f"{report.bimodality['summary']})", highlight=False)
    sanity = report.sanity_line()
    if sanity:
        console.print(f"{'warning' if report.forced else 'held'}: {sanity}", highlight=False, soft_wrap=True)
    print_table(report.counts_table(), title=f"tag '{report.topic}' vs pre-classifier")
    if report.unreadable:
        console.print(f"{report.unreadable} photos dropped as unreadable_image (their stored file would not decode)")
    if report.label_issues is not None:
        action = f"found, {report.label_issues_dropped:,} dropped" if config.drop_label_issues else \
            "flagged (use --drop-label-issues to drop them)"
        console.print(f"label issues: {report.label_issues:,} {action}", highlight=False)
    for line in repair_lines(report):
        console.print(line, highlight=False)


def repair_lines(report) -> list[str]:
    """One line per repair the prefilter made (relabel, geo rescue), for the command's output."""
    lines = []
    relabel, rescue = report.relabel, report.geo_rescue
    if relabel:
        cut = "no margin reaches it" if relabel["margin_cut"] is None else \
            f"margin >= {relabel['margin_cut']:.3f}, expected precision {relabel['expected_precision']:.0%}"
        lines.append(f"relabelled: {relabel['relabelled']:,} of {relabel['flagged']:,} label issues "
                     f"(target precision {relabel['precision_target']:.0%}: {cut}); the old label is in original_label")
    if rescue:
        lines.append(f"geo rescue: {rescue['rescued']:,} of {rescue['geo_outliers']:,} geo outliers kept as "
                     f"geo_rescued (pixels agree with the label and the topic); {rescue['other_label']:,} look like "
                     f"another label and {rescue['off_topic']:,} off topic stay dropped (--no-geo-rescue keeps all "
                     "dropped)")
    return lines
