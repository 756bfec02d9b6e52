"""The prefilter's stage report: its counts, repairs and holds, and the lines the commands print."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from curate.prefilter.config import HELD_CUT
from curate.prefilter.labels import SKIPPED
from curate.prefilter.threshold import percent_below


@dataclass
class PrefilterReport:
    topic: str | None  # None: no topic, label issues only
    threshold: float | None
    threshold_method: str
    scored: int
    tagged_kept: int
    tagged_dropped: int
    untagged_recovered: int
    untagged_dropped: int
    unreadable: int
    label_issues: int | None
    label_issues_dropped: int
    held: bool = False  # the drops were held back (sanity); below-threshold photos are flagged topic_doubted
    held_reasons: list[str] = field(default_factory=list)
    forced: bool = False  # sanity objected but --force applied the drops
    unforceable: bool = False  # held although --force: the photos scored were all of one kind (audit AV3)
    doubted: int = 0
    # curate.prefilter.cut.recovery_floor: untagged photos above the cut recovered only at or above it (None: none)
    recovery_floor: float | None = None
    untagged_doubted: int = 0  # untagged photos kept above the cut but below recovery_floor, flagged topic_doubted
    would_drop_tagged: int = 0
    would_drop_untagged: int = 0
    topic_share: float = 0.0
    bimodality: dict = field(default_factory=dict)
    cut_estimate: dict = field(default_factory=dict)  # `cut_estimate`: what the cut drops and its bound on good ones
    per_label: list[dict] = field(default_factory=list)
    geo_rescue: dict = field(default_factory=dict)  # curate.prefilter.rescue.rescue's summary; {} when off
    relabel: dict = field(default_factory=dict)  # curate.prefilter.relabel.relabel's summary; {} when off
    topic_rescue: dict = field(default_factory=dict)  # curate.prefilter.rescue.rescue_topic's summary; {} when off
    untagged_rescued: int = 0  # of untagged_recovered: below the cut, kept by the topic rescue (`topic_rescued`)
    label_model: dict = field(default_factory=dict)  # curate.prefilter.labels.label_model_figures; {} when skipped
    rejected_owners: list[dict] = field(default_factory=list)  # curate.prefilter.owners: mostly rejected photographers
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # drops held back or forced (label issues): one line each
    config: dict = field(default_factory=dict)

    def counts_table(self) -> pd.DataFrame:
        """The talk's four counts; when the drops were held, a column of the kept photos doubted (and the
        untagged kept are every untagged photo: a held cut recovers none, it only keeps them)."""
        untagged = self.scored - self.tagged_kept - self.tagged_dropped
        table = pd.DataFrame({"": ["tagged", "untagged"],
                              "kept": [self.tagged_kept, untagged - self.untagged_dropped],
                              "dropped": [self.tagged_dropped, self.untagged_dropped]})
        if self.held and not self.unforceable:  # a cut among photos of one kind doubts none (audit AX)
            table["kept, doubted"] = [self.would_drop_tagged, self.would_drop_untagged]
        elif self.untagged_doubted:  # above the cut, under the recovery floor: kept, not recovered
            table["kept, doubted"] = [0, self.untagged_doubted]
        return table

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line for `curate prefilter` and `curate run`: the talk's four counts, label issues, repairs,
        and why nothing was dropped when sanity held the drops back."""
        issues = "not checked" if self.label_issues is None else f"{self.label_issues:,}"
        if self.label_issues_dropped:  # `curate run` shows only this line (audit AE: "nothing dropped" beside 3 drops)
            issues += f" ({self.label_issues_dropped:,} dropped)"
        if self.label_model.get("unlike_label"):  # curate.prefilter.outliers: no label fits them
            issues += f" ({self.label_model['unlike_label']:,} of them unlike their label's photos by others)"
        unjudged = sum(int(row.get("unjudged", 0)) for row in self.per_label)
        if unjudged:  # `curate run` shows only this line: the photos no verdict covers
            issues += (f" ({unjudged:,} photos not judged: too few photos of their label in the fold model; "
                       "curate review lists them after the flags)")
        skipped = next((note for note in self.notes if note.startswith(SKIPPED)), None)
        if self.label_issues is None and skipped:  # `curate run` shows only this line: say why
            issues += f": {skipped.removeprefix(SKIPPED).split('; ')[0]}"
        if self.topic is None:
            given = (self.config or {}).get("topic")  # a topic on every photo judged: no model (`_label_issues_only`)
            why = f"topic {given!r} on every photo, no negatives" if given else "no topic"
            line = f"{why} (label issues only): {self.scored:,} photos examined; label issues {issues}"
        else:
            line = (f"topic {self.topic!r}: tagged kept {self.tagged_kept:,}, tagged dropped {self.tagged_dropped:,}, "
                    f"untagged recovered {self.untagged_recovered:,}{self._rescued_among()}, "
                    + (f"untagged kept doubted {self.untagged_doubted:,} (under the recovery floor "
                       f"{self.recovery_floor:.3f}), " if self.untagged_doubted else "") +
                    f"untagged dropped {self.untagged_dropped:,}; label issues {issues}")
        if self.label_model.get("out_of_fold_accuracy") is not None:
            line += (f" (the label model agrees with {self.label_model['out_of_fold_accuracy']:.0%} of the given "
                     "labels out of fold)")
        if self.relabel:
            line += f", {self.relabel['relabelled']:,} relabelled"
            if self.relabel.get("held"):
                line += f" (held: {self.relabel['reached']:,} reach the cut, too few to trust)"
        if self.geo_rescue:
            line += f"; geo outliers rescued {self.geo_rescue['rescued']:,} of {self.geo_rescue['geo_outliers']:,}"
            span = self.geo_rescue.get("rescued_km")  # how far, where to look (audit AP: `curate run` said neither)
            if isinstance(span, list) and len(span) == 2:
                line += (f" ({span[0]:,.0f}-{span[1]:,.0f} km from their label's centre; `curate review --queue "
                         "geo`, or --no-geo-rescue: recipe geo_rescue = false)")
        if self.topic_rescue:
            rescue = self.topic_rescue
            held = "" if not rescue.get("held") else \
                f" (the rescue held: expected precision " \
                f"{percent_below(rescue['expected_precision'], rescue['min_precision'])})"
            line += (f"; below the cut, {rescue['rescued']:,} of {rescue['off_topic_labelled']:,} labelled photos "
                     f"rescued (pixels agree with the label){held}")
        if any(row["kept"] for row in self.rejected_owners):  # `curate run` shows only this line: who to look at
            first = self.rejected_owners[0]
            who = first["owner_name"] or first["owner_id"]
            more = f" and {len(self.rejected_owners) - 1:,} more" if len(self.rejected_owners) > 1 else ""
            line += (f"; photographers mostly rejected: {who} ({first['rejected']:,} of {first['judged']:,}, "
                     f"{first['kept']:,} still kept){more}: `curate review --queue owners`")
        sanity = self.sanity_line()
        return line + (f"; {sanity}" if sanity else "")

    def _rescued_among(self) -> str:
        """The untagged photos kept below the cut, inside the recovered count: the catalog marks them
        `topic_rescued`, the others `topic_recovered` (audit BU T1: "recovered 89" beside 78 marked so)."""
        if not self.untagged_rescued:
            return ""
        return (f" ({self.untagged_recovered - self.untagged_rescued:,} scored on topic, "
                f"{self.untagged_rescued:,} rescued below the cut)")

    def label_model_line(self) -> str | None:
        """What the label issues rest on: the label model's out-of-fold agreement with the given
        labels next to the most common label's share; None when label issues were not checked."""
        model = self.label_model
        if model.get("out_of_fold_accuracy") is None:
            return None
        weak = model.get("weak_labels") or {}
        named = "; ".join(f"{label} {row['agreement']:.0%} of {row['photos']:,} ({row['flagged']:,} flagged)"
                          for label, row in sorted(weak.items(), key=lambda item: item[1]["agreement"])[:6])
        weak_text = (f"; it agrees with under half of these labels' judged photos, so its flags there are mostly its "
                     f"own confusion (features that do not see what tells these labels apart): {named}") if weak else ""
        return (f"the label model agrees with {model['out_of_fold_accuracy']:.0%} of the {model['photos']:,} given "
                f"labels out of fold (the most common label alone: {model['majority_share']:.0%}){weak_text}; a flag "
                "is its confident disagreement, a wrong label only as often as the model is right: look at the "
                "flags (`curate review`) before dropping them")

    def sanity_line(self) -> str | None:
        """One line saying why nothing was dropped (or that --force dropped anyway); None if sanity passed."""
        if not self.held_reasons:
            return None
        why = "; ".join(self.held_reasons)
        if self.forced:
            return f"dropped anyway (--force) although {why}"
        if self.unforceable:
            return f"{HELD_CUT}: {why}; every photo is kept, none flagged topic_doubted"
        return (f"{HELD_CUT}: {why}; {self.doubted:,} photos below the threshold are kept and "
                "flagged topic_doubted; pass --force (recipe force = true) to drop them")
