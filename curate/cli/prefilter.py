"""`curate prefilter`."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Annotated

import typer

from classify.config import TrainConfig
from curate.cli.common import JsonOption, WorkspaceOption, print_table, recipe_given, user_errors, workspace
from curate.cli.options import config_options
from curate.console import console
from curate.errors import UsageError
from curate.pipeline.settings import build_config
from curate.prefilter.stage import PrefilterConfig
from curate.recipes import load_recipe


def _config(topic: str | None, recipe: str | None, given: dict):
    """PrefilterConfig: a flag given (not None in `given`) wins over the recipe's [prefilter]
    section, which wins over the defaults; the topic defaults to the recipe's, and there is none
    with label_issues_only (label issues alone)."""
    chosen = load_recipe(recipe) if recipe else None
    section = chosen.stage_defaults("prefilter") if chosen else {}
    flags = {key: value for key, value in given.items() if value is not None}
    label_issues_only = {**section, **flags}.get("label_issues_only") is True  # (with --topic: refused by the config)
    if topic is None and chosen is not None and not label_issues_only:
        topic = chosen.topic
    if not topic and not label_issues_only:
        raise UsageError("say which tag marks the topic: --topic skyline (or --recipe with a topic); photos "
                         "without tags (a folder of labelled photos): --label-issues-only looks for label errors alone")
    return build_config(PrefilterConfig, section, f"recipe {recipe} [prefilter]", flags=flags,
                        command="curate prefilter", topic=topic)


# --mode finetune trains a CNN per fold: TrainConfig's settings, these five on the command line,
# with fewer epochs than `classify train`'s default (one model per fold)
FINETUNE_FLAGS = ("head_epochs", "epochs", "image_size", "batch_size", "device")
FINETUNE_DEFAULTS = {"head_epochs": 1, "epochs": 2}


@user_errors
@config_options(TrainConfig, param="finetune_settings",
                skip=tuple(item.name for item in fields(TrainConfig) if item.name not in FINETUNE_FLAGS))
@config_options(PrefilterConfig)
def prefilter(
    workspace_path: WorkspaceOption = None,
    settings: dict | None = None,  # one flag per PrefilterConfig field (curate/cli/options.py)
    embeddings: Annotated[str | None, typer.Option(
        "--embeddings", help="Embedding cache to use (default: the last `curate embed` run's).")] = None,
    recipe: Annotated[str | None, typer.Option(
        "--recipe", parser=recipe_given,
        help="Dataset recipe: its topic is the default --topic, its [prefilter] section the default settings.")] = None,
    finetune_settings: dict | None = None,  # --mode finetune: TrainConfig's --head-epochs, --epochs, ...
    as_json: JsonOption = False,
) -> None:
    """Drop off-topic photos with a pre-classifier trained on the topic tag; recover untagged
    on-topic ones; flag label issues."""
    from curate.prefilter.run import run_prefilter

    topic = settings.pop("topic", None)
    config = _config(topic or None, recipe, settings)
    mode = config.mode
    scorer = None
    # checked whatever the mode: a bad --epochs is a mistake even where the default mode ignores it
    train = build_config(TrainConfig, {}, "", flags={**FINETUNE_DEFAULTS, **finetune_settings, "seed": config.seed},
                         command="curate prefilter")
    if mode == "finetune":  # the CLI layer may import classify; curate's library never does
        from classify.steps import topic_scorer

        scorer = topic_scorer(train)
    report = run_prefilter(workspace(workspace_path), config, embeddings, scorer)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(report.summary(), highlight=False, soft_wrap=True, markup=False)
    if report.topic is not None:
        console.print(f"topic {report.topic!r}: {report.scored:,} photos scored out of fold; threshold "
                      f"{report.threshold:.3f} ({report.threshold_method}; "
                      f"{report.bimodality['summary']})", highlight=False)
        sanity = report.sanity_line()
        if sanity:
            # "warning: held: …" as the filter's holds read: a script grepping for warning: finds it (audit V)
            console.print(f"warning: {'' if report.forced else 'held: '}{sanity}", highlight=False, soft_wrap=True)
        print_table(report.counts_table(), title=f"tag '{report.topic}' vs pre-classifier")
    if report.unreadable:
        console.print(f"{report.unreadable} photos dropped as unreadable_image (their stored file would not decode, "
                      "or is gone from the image store)")
    if report.label_issues is not None:
        action = f"found, {report.label_issues_dropped:,} dropped" if config.drop_label_issues else \
            "flagged (use --drop-label-issues to drop them)"
        console.print(f"label issues: {report.label_issues:,} {action}", highlight=False)
        if report.label_model_line():
            console.print(f"label issues: {report.label_model_line()}", highlight=False, soft_wrap=True)
    for line in report.warnings:  # label-issue drops held back (or forced): one line each, with why
        console.print(f"warning: {line}", highlight=False, markup=False, soft_wrap=True)
    for line in repair_lines(report):
        console.print(line, highlight=False)


def repair_lines(report) -> list[str]:
    """One line per repair the prefilter made (relabel, geo rescue), for the command's output."""
    from curate.prefilter.relabel import MIN_RELABELLED
    from curate.prefilter.threshold import percent_below

    lines = []
    relabel, rescue = report.relabel, report.geo_rescue
    if relabel.get("held"):
        others = (report.label_issues or 0) - relabel["flagged"]  # flagged for their fit alone: no label to take
        of = (f"of the {relabel['flagged']:,} label issues confident learning flagged (the other {others:,} were "
              "flagged as unlike their label's photos and suggest no label)" if others > 0
              else f"of {relabel['flagged']:,} label issues")
        lines.append(f"relabel held: only {relabel['reached']:,} {of} reach the margin for "
                     f"{relabel['precision_target']:.0%} (fewer than {MIN_RELABELLED}: the label model's "
                     "own precision estimate cannot stand for so few, and on a clean collection they are its "
                     "confusions); none relabelled, they stay flagged: look at them with `curate review`")
    elif relabel:
        cut = "no margin reaches it" if relabel["margin_cut"] is None else \
            (f"margin >= {relabel['margin_cut']:.3f}, the label model's own estimate of its precision "
             f"{relabel['expected_precision']:.0%}, from its calibrated probabilities, not measured")
        lines.append(f"relabelled: {relabel['relabelled']:,} of {relabel['flagged']:,} label issues "
                     f"(target precision {relabel['precision_target']:.0%}: {cut}); the old label is in original_label")
    if rescue:
        span = rescue.get("rescued_km")
        far = (f", {span[0]:,.0f}-{span[1]:,.0f} km from their label's centre: a wrong geotag, or a photo taken "
               "elsewhere that looks like the label; look at them in `curate review --queue geo`"
               if isinstance(span, list) and len(span) == 2 else "")
        lines.append(f"geo rescue: {rescue['rescued']:,} of {rescue['geo_outliers']:,} geo outliers kept as "
                     f"geo_rescued (pixels agree with the label and the topic{far}); {rescue['other_label']:,} look "
                     f"like another label and {rescue['off_topic']:,} off topic stay dropped (--no-geo-rescue keeps "
                     "all dropped)")
    if report.topic_rescue and report.topic_rescue.get("held"):
        topic = report.topic_rescue
        lines.append(f"topic rescue held: {topic['would_rescue']:,} of {topic['off_topic_labelled']:,} labelled photos "
                     f"below the topic threshold would be kept, expected precision "
                     f"{percent_below(topic['expected_precision'], topic['min_precision'])}: all stay dropped as "
                     "off_topic")
    elif report.topic_rescue:
        topic = report.topic_rescue
        lines.append(f"topic rescue: {topic['rescued']:,} of {topic['off_topic_labelled']:,} labelled photos below the "
                     "topic threshold kept as topic_rescued (the label model believes their label); the others stay "
                     "dropped as off_topic (--no-topic-rescue drops all)")
    return lines
