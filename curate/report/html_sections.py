"""The report page's section renderers: one function per section of report.json (`overview`, `geography`,
`photographers`, `tags`, `duplicates`, `quality`, `label_issues`, `splits`, `copies`, `training`,
`attribution`), each taking the section's dict and returning its HTML. `curate.report.html` puts them on
the page; the review and look-alikes sections render in `curate.report.review` and `curate.report.lookalikes`.
"""

from __future__ import annotations

from curate.report.collages import render_collages
from curate.report.html_blocks import absent, e, gallery, img, link, num, owner, pct, table, thumbnail


def overview(s: dict) -> str:
    reasons = s["reasons"]
    # no "rejected at ingest" column: it is the sum of the ingest columns beside it, and a row added up to more
    # photos than it holds (audit BB: 276 of 273); report.json keeps the subtotal (rejected_at_ingest)
    rows = [[e(r["label"]), num(r["ingested"]), *[num(r["dropped"].get(c, 0)) for c in reasons], num(r["kept"])]
            for r in s["funnel"] + [s["total"]]]
    funnel = table(["label", "ingested", *[reason_header(c) for c in reasons], "kept"], rows, raw_headers=True)
    total = s["total"]
    why = (f'<p class="why">Each row follows one label from ingest to the kept set: of {num(total["ingested"])} '
           f'photos, {num(total["kept"])} are kept; each photo is counted once, under the first stage and reason '
           "that dropped it (a column per stage/reason), so a row's columns after the first add up to its photos "
           f"({num(total['rejected_at_ingest'])} in all rejected at ingest).</p>")
    lic = table(["licence", "kept photos"], [[e(r["license"]), num(r["photos"])] for r in s["licences"]])
    return "<h3>Funnel</h3>" + why + funnel + "<h3>Licences of kept photos</h3>" + lic


def reason_header(stage_reason: str) -> str:
    """'filter/exact_duplicate' as a narrow two-line header: 'exact duplicate' over a small 'filter'."""
    stage, _, reason = stage_reason.partition("/")
    return f'{e(reason.replace("_", " "))}<br><small>{e(stage)}</small>'


def geography(s: dict) -> str:
    applied = sum(1 for r in s["labels"] if r.get("geo_filter", "applied") in ("applied", "forced"))
    scope = "" if applied == len(s["labels"]) else (
        f" Applied to {applied} of the {len(s['labels'])} labels (the geo filter column says why not)."
        if applied else " Applied to none of the labels (the geo filter column says why).")
    losing = [r for r in s["labels"] if r.get("geo_outliers") and r.get("geo_filter") not in ("applied", "forced")]
    if losing:  # a held place still drops beyond the ring, a region beyond its extent (audit W6)
        scope += (f" {len(losing)} other label{'s' if len(losing) != 1 else ''} lost photos as geo outliers "
                  f"farther out ({', '.join(r['label'] for r in losing[:8])}{', …' if len(losing) > 8 else ''}: "
                  "the note column says how far).")
    rescued = sum(r.get("geo_rescued") or 0 for r in s["labels"])
    if rescued:  # kept again by the prefilter: the geo outliers column leaves them out (audit AM)
        scope += (f" {rescued:,} geo outlier{'s were' if rescued != 1 else ' was'} kept again by the prefilter's geo "
                  "rescue (its pixels agree with the label and the topic): a wrong geotag, or a photo taken "
                  "elsewhere that looks like the label; `curate review --queue geo` shows them, with distances.")
    parts = [f'<p>Threshold: {num(s["max_km"])} km from each label\'s {e(s["center"])} centre.{e(scope)} '
             "The circle on each scatter is drawn in degrees (approximate).</p>"]
    rows = [[e(r["label"]), num(r["photos"]), num(r["kept_with_coordinates"]), num(r["dropped_with_coordinates"]),
             num(r["geo_outliers"]), num(r.get("geo_rescued") or 0), num(r["missing_coordinates"]),
             e(", ".join(f"{k}: {v}" for k, v in r["missing_by_issue"].items())), e(r.get("geo_filter", "")),
             e(r.get("note") or "")]
            for r in s["labels"]]
    parts.append(table(["label", "photos", "kept (geotagged)", "dropped (geotagged)", "geo outliers",
                        "rescued by the prefilter", "missing coordinates", "why missing", "geo filter", "note"], rows,
                       left={0, 7, 8, 9}))
    parts.append('<p class="why">The scatter\'s legend counts only photos with coordinates, as the table does; '
                 "photos beyond the plotted area are counted, not drawn.</p>")
    blocks = []
    for r in s["labels"]:
        plots = img(r.get("scatter_png"), f'{r["label"]} positions') + img(r.get("histogram_png"),
                                                                             f'{r["label"]} distances')
        blocks.append(f'<div class="plots"><h4>{e(r["label"])}</h4>{plots}</div>')
    return "".join(parts) + f'<div class="geo">{"".join(blocks)}</div>'


def _unjudged_reason(labels: list[dict]) -> str:
    """Why the owner alarm judged no label (it compares the top owners of 3 labels or more; audit CB: "fewer
    than 3 labels" was said of 5 labels whose photos had no owner).

    >>> _unjudged_reason([{"top_owner": None}] * 5), _unjudged_reason([{"top_owner": "a"}, {"top_owner": None}] * 2)
    ('No photo has a known photographer', 'Fewer than 3 labels have a known photographer')
    >>> _unjudged_reason([{"top_owner": "a"}])
    'Fewer than 3 labels'
    """
    if len(labels) < 3:
        return "Fewer than 3 labels"
    owned = sum(entry.get("top_owner") is not None for entry in labels)
    return "No photo has a known photographer" if not owned else "Fewer than 3 labels have a known photographer"


def photographers(s: dict) -> str:
    """Owner concentration per label; an alarm (with a gallery) only where it is unusual for the collection."""
    rows = [[e(r["label"]), num(r["photos"]), num(r["owners"]), num(r.get("no_owner", 0)),
             "" if r["effective_owners"] is None else f'{r["effective_owners"]:.1f}',
             "" if r["top_owner"] is None else owner(r["top_owner"], r.get("top_owner_name")),
             num(r["top_photos"]), pct(r["top_share"]),
             "" if r["concentration_z"] is None else f'{r["concentration_z"]:.1f}',
             '<span class="bad">ALARM</span>' if r["alarm"]
             else '<span class="bad">mostly one</span>' if r.get("dominated") else '<span class="ok">ok</span>',
             ", ".join(f'{owner(o["owner_id"], o.get("owner_name"))} ({pct(o["share"])})' for o in r["top_owners"])]
            for r in s["labels"]]
    judged = "" if s.get("judged", True) else f" {_unjudged_reason(s['labels'])}: nothing to compare with, so no alarm."
    parts = [f'<p class="why">Alarm when a label\'s top owner has unusually many photos for this collection: the '
             f'robust z-score of log(top owner\'s photos) across the labels is above {num(s["z_alarm"])} and that '
             f'owner holds more than {pct(s["owner_alarm"])} of the label\'s kept photos (docs/report.md). '
             f'Photographers are the distinct known owners; a photo without an owner is counted under "no owner", '
             f'never as a photographer, and shares are of all the label\'s kept photos. Effective photographers = '
             f'1/Σ share² over the photos with an owner (as many equal photographers as this spread).{judged} '
             f'{s["alarms"]} alarm(s).</p>',
             *[f'<p class="bad">warning: {e(line)}</p>' for line in s.get("warnings", [])],
             table(["label", "kept", "photographers", "no owner", "effective photographers", "top photographer",
                    "its photos", "its share", "z", "", "top photographers"], rows, left={0, 5, 10})]
    for r in s["labels"]:
        if r["alarm"]:
            parts.append(f'<h4>{e(r["label"])}: photos of {owner(r["top_owner"], r.get("top_owner_name"))} '
                         f'({pct(r["top_share"])})</h4>' + gallery(r["gallery"], ("status",)))
    return "".join(parts)


def tags(s: dict) -> str:
    parts = ["<h3>Ambiguous photos (tags name 2+ labels)</h3>", gallery(s["ambiguous"], ("tag_labels", "status"))]
    pre = s["prefilter"]
    if "absent" in pre:
        return "".join(parts) + absent(pre)
    c = pre["counts"]
    method = f', {e(pre["method"])}' if pre.get("method") else ""
    parts.append(f'<h3>Topic tag “{e(pre["topic"])}” vs pre-classifier '
                 f'(threshold {num(pre["threshold"])}{method})</h3>')
    if pre.get("bimodality"):
        parts.append(f'<p>{e(pre["bimodality"])}</p>')
    if pre.get("sanity"):
        parts.append(f'<p class="bad">{e(pre["sanity"])}</p>')
    if pre.get("rejected_owners"):  # whose photos the cut took (audit EG F2)
        parts.append(f'<p>{e(pre["rejected_owners"])}</p>')
    d = pre.get("doubted_counts", {"tagged": 0, "untagged": 0})  # kept below the threshold: drops held
    doubted = d["tagged"] + d["untagged"]
    header = ["", "kept", "dropped"] + (["kept, doubted"] if doubted else [])
    rows = [["tagged", num(c["tagged_kept"]), num(c["tagged_dropped"])],
            ["untagged", num(c.get("untagged_kept", c["untagged_recovered"] + d["untagged"])),
             num(c["untagged_dropped"])]]
    if doubted:
        rows[0].append(num(d["tagged"]))
        rows[1].append(num(d["untagged"]))
    parts.append(table(header, rows))
    if doubted:
        parts.append("<h3>Doubted but kept (lowest score first)</h3>"
                     + gallery(pre["doubted"], ("label", "topic_score")))
    parts.append("<h3>Tagged but dropped (lowest score first)</h3>"
                 + gallery(pre["tagged_dropped"], ("label", "topic_score")))
    parts.append("<h3>Untagged but recovered (highest score first)</h3>"
                 + gallery(pre["untagged_recovered"], ("label", "topic_score")))
    return "".join(parts)


def duplicates(s: dict) -> str:
    parts = []
    for key, title in (("exact", "Exact duplicate groups"), ("near", "Near-duplicate clusters")):
        d = s[key]
        parts.append(f'<h3>{title}: {d["groups"]} groups, {d["photos"]} photos (largest first)</h3>')
        for g in d["shown_groups"]:
            parts.append(f'<h4>{e(g["key"])} ({g["size"]} photos)</h4>' + gallery(g, ("label", "status")))
        if len(d["shown_groups"]) < d["groups"]:
            parts.append(f'<p class="note">{d["groups"] - len(d["shown_groups"])} smaller groups not shown</p>')
    parts.append(render_collages(s.get("collages")))  # a report.json written before it had them: none
    return "".join(parts)


def quality(s: dict) -> str:
    """One gallery per image-quality check, worst first."""
    parts = ['<p>Flagged by the filter (column <code>quality_issues</code>); dropped only for the checks '
             'given to <code>--drop-quality</code>.</p>']
    for c in s["checks"]:
        action = f'dropped: {c["dropped"]}' if c["drops"] else "flagged only"
        parts.append(f'<h3>{e(c["check"])}: {c["gallery"]["total"]} photos ({e(action)})</h3>'
                     f'<p class="note">{e(c["meaning"])}; worst first</p>'
                     + gallery(c["gallery"], ("label", f'{c["check"]}_score', "status")))
    return "".join(parts)


def label_issues(s: dict) -> str:
    per = ", ".join(f"{k}: {v}" for k, v in s["per_label"].items())
    relabelled = s.get("relabelled") or 0
    moved = (f" {num(relabelled)} of them the prefilter relabelled to their suggested label (they train under it); "
             "the rest train as labelled." if relabelled else "")
    return (f'<p>{s["flagged"]} photos flagged (by the label they were flagged under: {e(per)}).{e(moved)} '
            "Photos unlike their label first (lowest label fit first; no suggested label, as no label may fit "
            "them), then lowest label quality first.</p>"
            '<p class="why">Flagged: a photo whose label gets a low out-of-fold predicted probability from a '
            "classifier on its embedding (confident learning; label quality is that probability), or a photo "
            "unlike its label's photos by other photographers: its label fit, the robust z of its similarity to its "
            "10 nearest photos of the label by others, is under &minus;3.5"
            f"{unlike_count(s.get('label_model') or {})} (a photo of none of the labels; in a label whose photos "
            "are much alike, also an unusual view of it).</p>"
            + label_model(s.get("label_model") or {})
            + judged_table(s.get("labels") or [])
            + gallery(s["gallery"], ("label", "suggested_label", "label_quality", "label_fit")))


def unlike_count(m: dict) -> str:
    """How many of the flags are photos unlike their label (the label model's figures), as a clause."""
    count = m.get("unlike_label")
    return f" ({num(count)} of the flags)" if isinstance(count, int) and count else ""


def judged_table(rows: list[dict]) -> str:
    """Per label: photos judged, flagged (and the share), photos not judged, the label model's agreement."""
    if not rows:
        return ""
    body = [[e(r["label"]), num(int(r["photos"]) - int(r["unjudged"])),
             f'{num(r["issues"])} ({pct(int(r["issues"]) / max(int(r["photos"]) - int(r["unjudged"]), 1))})',
             num(r["unjudged"]), "—" if r.get("agreement") is None else pct(r["agreement"])] for r in rows]
    return (table(["label", "photos judged", "flagged", "not judged", "model agrees"], body)
            + '<p class="why">Not judged: the fold model that scored the photo trained on fewer than 10 photos of '
            "its label, or under a quarter of them (a small label, or one photographer or near-duplicates by "
            "several holding most of it), so a flag would be a guess. "
            "Model agrees: the share of the label's judged photos whose most probable class out of fold is the "
            "label; a label the model seldom agrees with has flags that say more about the model.</p>")


def label_model(m: dict) -> str:
    """What the flags rest on: the label model's out-of-fold agreement with the given labels."""
    if m.get("out_of_fold_accuracy") is None:
        return ""
    return (f'<p class="why">The label model agrees with {pct(m["out_of_fold_accuracy"])} of the '
            f'{num(m["photos"])} given labels out of fold (the most common label alone: {pct(m["majority_share"])}). '
            "A flag is its confident disagreement, so it is a wrong label only as often as the model is right: "
            "where the features hardly see what the labels name (car colours, say), most flags are right labels. "
            f"Look at them before dropping any.{weak_labels(m.get('weak_labels') or {})}</p>")


def weak_labels(weak: dict) -> str:
    """The labels the label model agrees with on under half of their judged photos (its flags there: its confusion);
    each with its judged photos, as the table below counts them (`curate.prefilter.labels.label_model_figures`)."""
    if not weak:
        return ""
    named = ", ".join(f"{e(label)} ({pct(row['agreement'])} of {num(row['photos'])}; {num(row['flagged'])} flagged)"
                      for label, row in sorted(weak.items(), key=lambda item: item[1]["agreement"]))
    return (f" It agrees with under half of the judged photos of {named}: its flags on those labels are mostly its "
            "confusion.")


def splits(s: dict) -> str:
    config = s.get("config") or {}
    shares = any("val_share" in r for r in s["per_label"])

    def achieved(r: dict) -> list[str]:  # val and test shares got, marked when off the asked ones (audit BB)
        if "val_share" not in r:
            return ["", ""]
        mark = "" if r["within_tolerance"] else " ✗"
        return [f"{pct(r['val_share'])}{mark}", f"{pct(r['test_share'])}{mark}"]

    rows = [[e(r["label"]), num(r["photos"]), num(r.get("no_owner", 0)),
             *[f'{r[f"{n}_photos"]} / {r[f"{n}_owners"]}' for n in ("train", "val", "test")],
             *(achieved(r) if shares else [])] for r in s["per_label"]]
    asked = [f"val share (asked {pct(config['val'])})", f"test share (asked {pct(config['test'])})"] \
        if shares and "val" in config and "test" in config else ["val share", "test share"]
    parts = [table(["label", "photos", "no owner", "train photos / photographers", "val photos / photographers",
                    "test photos / photographers", *(asked if shares else [])], rows),
             *[f'<p class="note">note: {e(note)}</p>' for note in s.get("notes") or []],
             '<p class="why">Photographers are the distinct known owners; a photo without an owner is no '
             "photographer (counted under \"no owner\"), though the split keeps each apart as a group of its own.</p>",
             '<p class="why">A leak is one photographer, near-duplicate cluster or identical image with kept photos '
             "in two splits: the model would be tested on what it trained on, so test accuracy would flatter it. "
             "Counted on the catalog as it is now.</p>"]
    if s["clean"]:
        parts.append('<p class="ok">Leakage check: clean — no owner, near-duplicate cluster or image '
                     'in two splits.</p>')
    else:
        total = s.get("leaks_total", len(s["leaks"]))
        shown = (f' (the first {len(s["leaks"])}; `curate check-leakage` lists them all)'
                 if total > len(s["leaks"]) else "")
        parts.append(f'<p class="bad">Leakage check: {total} leak(s){e(shown)}.</p>')
        parts.append(table(["kind", "key", "splits", "photos", "per split"],
                           [[e(r["kind"]), e(r["key"]), e(r["splits"]), num(r["photos"]),
                             e(", ".join(f"{k}: {v}" for k, v in r["photos_per_split"].items()))] for r in s["leaks"]]))
    return "".join(parts)


def copies(s: dict) -> str:
    """The last `curate check-leakage --against`: the copies of another collection's photos in this one."""
    when = f" (checked {s['checked_at']})" if s.get("checked_at") else ""
    parts = [f'<p class="{"bad" if s["copies_count"] else "ok"}">{e(s["summary"])}{e(when)}.</p>']
    parts += [f'<p class="note">note: {e(note)}</p>' for note in s.get("notes") or []]
    if s["copies_count"]:
        shown = (f" (the first {len(s['copies']):,}; `curate check-leakage --against` lists them all)"
                 if s["copies_count"] > len(s["copies"]) else "")
        parts.append(table(["photo", "split", "label", "kind", "their photos", "their ids", "their labels"],
                           [[e(r.get("photo_id")), e(r.get("split") or "no split"), e(r.get("label")), e(r.get("kind")),
                             num(r.get("other_photos")), e(r.get("other_photo_ids")), e(r.get("other_labels"))]
                            for r in s["copies"]], left={0, 1, 2, 3, 5, 6}))
        parts.append(f'<p class="why">A copy of a photo the other collection holds (its test set, say) lets a model be '
                     f'tested on what it trained on{e(shown)}. `curate check-leakage --against '
                     f'{e(s["against"])} --drop-decisions copies.jsonl`, then `curate review --import-decisions '
                     "copies.jsonl`, drops them.</p>")
    return "".join(parts)


def training(s: dict) -> str:
    images = s.get("images", {})
    parts = [f'<p>Run {e(s["run"])}: accuracy {pct(s["accuracy"])} on {num(s["photos"])} {e(s["split"])} photos.</p>']
    if (s.get("explain") or {}).get("accuracy"):
        parts.append(f'<p class="why">{e(s["explain"]["accuracy"])}</p>')
    if s.get("catalog_changed_since_training"):
        parts.append('<p class="bad">The catalog changed since this model was trained.</p>')
    if s.get("left_out_trained_on"):
        parts.append(f'<p class="bad">{num(s["left_out_trained_on"])} {e(s["split"])} photos were this run\'s training '
                     "or validation photos (the split changed since it was trained): left out of these figures.</p>")
    if s.get("left_out_touching_trained_on"):
        parts.append(f'<p class="bad">{num(s["left_out_touching_trained_on"])} more {e(s["split"])} photos share a '
                     "photographer or a copy with those the run learned from: left out of these figures.</p>")
    if s.get("headline"):
        parts.append(f'<p><b>{e(s["headline"])}.</b></p>'
                     + "".join(f'<p class="note">{e(n)}</p>' for n in s.get("headline_notes") or []))
    if s.get("sandals_test"):
        sandals = s["sandals_test"]
        rows = [[e(r["what"]), pct(r["value"]) if r["kind"] == "share" else num(r["value"])] for r in sandals["rows"]]
        parts.append("<h3>Sandals test</h3>" + (f'<p>{e(sandals["summary"])}.</p>' if sandals.get("summary") else "")
                     + table(["", "value"], rows))
    parts.append('<div class="figures">' + "".join(f'<a href="{e(src)}">{img(src, name)}</a>'
                                                   for name, src in images.items()) + "</div>")
    parts.append("<h3>Most confused</h3>" + table(["actual", "predicted", "photos"], [
        [e(r["actual"]), e(r["predicted"]), num(r["count"])] for r in s["most_confused"]], left=2))
    parts.append("<h3>Top losses</h3>" + table(
        ["image", "photo", "owner", "actual", "predicted", "loss", "p(predicted)"], [
            [thumbnail({**r, "photo_id": r.get("photo_id") or ""}, 64), link(r.get("page_url"), r.get("photo_id")),
             owner(r.get("owner_id"), r.get("owner_name")),
             e(r.get("actual")), e(r.get("predicted")), num(r.get("loss")), pct(r.get("p_predicted"))]
            for r in s["top_losses"]], left=5, tall=len(s["top_losses"]) > 8))
    parts.append(f'<h3>Per photographer (worst first; {len(s["per_owner"])} of {s["per_owner_total"]})</h3>'
                 + table(["owner", "photos", "correct", "accuracy"], [
                     [owner(r.get("owner_id"), r.get("owner_name")), num(r.get("photos")), num(r.get("correct")),
                      pct(r.get("accuracy"))]
                     for r in s["per_owner"]]))
    for name, comp in s["comparisons"].items():
        explain = comp.get("explain") or {}
        rows = [[e(k), num(v), f'<span class="why">{e(explain.get(k, ""))}</span>']
                for k, v in comp.items() if k not in ("notes", "headline", "explain")]
        shown_above = name == "uncurated" and s.get("headline")  # its notes sit beside the headline
        parts.append(f"<h3>Comparison: {e(name)}</h3>" + table(["", "value", "what it means"], rows, left=3)
                     + "".join(f'<p class="note">{e(n)}</p>' for n in ([] if shown_above else comp["notes"])))
    return "".join(parts)


def attribution(s: dict) -> str:
    rows = [[e(r["photo_id"]), owner(r.get("owner_id"), r["owner"]), e(r["license"]),
             link(r.get("page_url") or r["url"])] for r in s["rows"]]
    return (f'<p>{s["total"]} kept photos; showing {s["shown"]}. Full table: '
            f'<a href="{e(s["csv"])}">{e(s["csv"])}</a>.</p>'
            + table(["photo", "owner", "licence", "source URL"], rows, left=4))
