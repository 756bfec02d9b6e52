"""`classify tune`: the sampler, the augmentation-strength mapping, successive halving on a fake
objective (known best trial), the epoch budget (given or the plan's own), resume, the best config's
`classify train` line, bad options, and one tiny real search through the CLI."""

from __future__ import annotations

import itertools
import json
import math
import shlex
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.train import TrainConfig
from classify.tune import tune
from classify.tune_ranking import promote
from classify.tune_space import Halving, SearchSpace, augmentation, grid_levels, plan_epochs, rung_epochs, sample_trials
from classify.tune_trials import Outcome, outcome_from_history
from curate.cli.app import app as curate_app
from curate.errors import DataContractError, UsageError
from tests.helpers import demo_workspace, examples

runner = CliRunner()
BASE = TrainConfig(image_size=48, cache_side=56, batch_size=16, workers=0)
BEST_LR, BEST_WD = 1e-3, 1e-3


class FakeTrainer:
    """A known objective: distance from (BEST_LR, BEST_WD) in log space, lower with more epochs."""

    def __init__(self, fail_after: int | None = None):
        self.calls: list[tuple[str, TrainConfig, bool]] = []
        self.fail_after = fail_after

    @staticmethod
    def loss(config: TrainConfig) -> float:
        return (math.log10(config.lr / BEST_LR) ** 2 + math.log10(config.weight_decay / BEST_WD) ** 2
                + config.color_jitter + 1.0 / config.total_epochs)

    def __call__(self, run_dir, config, resume):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt  # the search is killed here
        self.calls.append((run_dir.parent.name, config, resume))
        return Outcome(self.loss(config), 0.5, config.total_epochs)

    def epochs(self) -> int:
        return sum(config.total_epochs for _, config, _ in self.calls)


class EarlyStoppingTrainer(FakeTrainer):
    """The fake objective, but every other run stops one epoch early (as the trainer's early stop does)."""

    def __call__(self, run_dir, config, resume):
        outcome = super().__call__(run_dir, config, resume)
        if len(self.calls) % 2 and config.total_epochs > 1:
            outcome.epochs_run -= 1
            self.calls[-1] = (run_dir.parent.name, replace(config, epochs=config.epochs - 1), resume)
        return outcome


def run_fake(tmp_path, fake, trials=9, **halving):
    return tune(tmp_path / "tune", SearchSpace(), BASE, fake, trials=trials, seed=3,
                halving=Halving(**{"min_epochs": 1, "max_epochs": 9, "eta": 3, **halving}))


def train_line_config(line: str) -> TrainConfig:
    """The TrainConfig that `classify train` builds from `line`, parsed by the real command's options."""
    words = shlex.split(line)
    assert words[:2] == ["classify", "train"]
    command = typer.main.get_command(classify_app).commands["train"]
    params = command.make_context("train", words[2:]).params
    names = {f.name for f in fields(TrainConfig)}
    values = {("compile" if name == "compile_model" else name): value for name, value in params.items()}
    return TrainConfig(**{name: value for name, value in values.items() if name in names})


# ---------------------------------------------------------------- sampler
def test_random_trials_are_log_uniform_within_bounds_and_seeded():
    space = SearchSpace(lr_min=1e-5, lr_max=1e-1, wd_min=1e-6, wd_max=1e-2, augment_min=0.2, augment_max=0.6)
    trials = sample_trials(space, 2000, seed=7)
    lr = np.array([t.lr for t in trials])
    wd = np.array([t.weight_decay for t in trials])
    augment = np.array([t.augment for t in trials])
    assert lr.min() >= 1e-5 and lr.max() <= 1e-1 and wd.min() >= 1e-6 and wd.max() <= 1e-2
    assert augment.min() >= 0.2 and augment.max() <= 0.6
    # log-uniform: each decade of lr holds about a quarter of the draws (uniform would put ~90% in the top one)
    per_decade = np.histogram(np.log10(lr), bins=[-5, -4, -3, -2, -1])[0] / len(lr)
    assert np.all(np.abs(per_decade - 0.25) < 0.05), per_decade
    assert abs(np.mean(augment < 0.4) - 0.5) < 0.05  # augmentation strength is uniform
    assert sample_trials(space, 20, seed=7) != sample_trials(space, 20, seed=8)


def test_random_trials_are_deterministic_for_a_seed():
    assert sample_trials(SearchSpace(), 12, seed=5) == sample_trials(SearchSpace(), 12, seed=5)
    assert [t.trial for t in sample_trials(SearchSpace(), 12, seed=5)] == list(range(12))


@pytest.mark.parametrize("n, shape", [(8, [2, 2, 2]), (12, [3, 2, 2]), (5, [2, 2, 1]), (1, [1, 1, 1]), (27, [3, 3, 3])])
def test_grid_levels_is_the_largest_full_grid_that_fits(n, shape):
    assert grid_levels(n, 3) == shape


@given(n=st.integers(1, 200), axes=st.integers(1, 3))
@settings(max_examples=examples(60), deadline=None)
def test_grid_levels_never_exceed_n_and_cannot_grow(n, axes):
    levels = grid_levels(n, axes)
    assert math.prod(levels) <= n
    for axis in range(axes):  # no single axis could take one more value
        assert math.prod(levels) // levels[axis] * (levels[axis] + 1) > n


def test_grid_covers_every_combination_with_the_endpoints():
    space = SearchSpace(lr_min=1e-4, lr_max=1e-2, wd_min=1e-5, wd_max=1e-1, augment_min=0.0, augment_max=0.8)
    trials = sample_trials(space, 12, mode="grid")
    points = {(t.lr, t.weight_decay, t.augment) for t in trials}
    lrs, wds, strengths = (sorted({p[i] for p in points}) for i in range(3))
    assert len(trials) == len(points) == 12
    assert points == set(itertools.product(lrs, wds, strengths))
    assert (lrs[0], lrs[-1], wds[0], wds[-1], strengths[0], strengths[-1]) == (1e-4, 1e-2, 1e-5, 1e-1, 0.0, 0.8)
    assert lrs[1] == pytest.approx(1e-3, rel=0.01)  # log-spaced: the middle lr is the geometric mean
    assert sample_trials(space, 12, seed=1, mode="grid") == trials


def test_a_fixed_axis_is_held_and_the_grid_spreads_over_the_others():
    space = SearchSpace(wd_min=0, wd_max=0, augment_max=0.5)  # weight decay off
    trials = sample_trials(space, 9, mode="grid")
    assert len(trials) == 9 and {t.weight_decay for t in trials} == {0.0}
    assert len({t.lr for t in trials}) == 3 and len({t.augment for t in trials}) == 3
    no_augment = sample_trials(SearchSpace(augment_min=0, augment_max=0), 4)
    assert {(t.color_jitter, t.crop_scale) for t in no_augment} == {(0.0, 1.0)}
    assert {t.weight_decay for t in sample_trials(space, 5)} == {0.0}


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr_min=1e-2, lr_max=1e-3), "--lr-min"),
    (dict(lr_min=0.0), "--lr-min"),
    (dict(wd_min=0.0, wd_max=0.1), "both to 0"),
    (dict(augment_max=1.5), "--augment-max"),
    (dict(augment_min=0.6, augment_max=0.4), "--augment-min"),
])
def test_bad_ranges_are_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        SearchSpace(**kwargs)


# ---------------------------------------------------------------- augmentation strength
def test_augmentation_strength_runs_from_none_to_inception_style_crops():
    assert augmentation(0.0) == (0.0, 1.0)  # no jitter, crops keep the whole image
    assert augmentation(1.0) == (0.4, 0.08)  # the documented strong end: torchvision's default crop scale
    with pytest.raises(UsageError, match="strength"):
        augmentation(1.5)


@given(a=st.floats(0, 1), b=st.floats(0, 1))
@settings(max_examples=examples(100), deadline=None)
def test_stronger_augmentation_means_more_jitter_and_smaller_crops(a, b):
    weak, strong = sorted((a, b))
    (jitter_weak, crop_weak), (jitter_strong, crop_strong) = augmentation(weak), augmentation(strong)
    assert jitter_weak <= jitter_strong and crop_weak >= crop_strong
    if strong - weak > 0.01:  # beyond the 3-digit rounding, strictly
        assert jitter_weak < jitter_strong and crop_weak > crop_strong
    TrainConfig(color_jitter=jitter_strong, crop_scale=crop_strong)  # always a setting the trainer accepts


def test_each_trial_trains_with_the_jitter_and_crop_of_its_strength(tmp_path):
    fake = FakeTrainer()
    table, _ = run_fake(tmp_path, fake, trials=5, max_epochs=1)
    trained = {name: config for name, config, _ in fake.calls}
    for row in pd.read_csv(tmp_path / "tune" / "trials.csv").itertuples():
        config = trained[f"trial-{row.trial:03d}"]
        assert (config.color_jitter, config.crop_scale) == augmentation(row.augment) == (row.color_jitter,
                                                                                       row.crop_scale)
    assert table["augment"].nunique() == 5


# ---------------------------------------------------------------- successive halving (fake objective)
def test_rungs_grow_by_eta_up_to_max_epochs():
    assert rung_epochs(1, 9, 3) == [1, 3, 9]
    assert rung_epochs(2, 2, 3) == [2]
    for low, high, eta in [(1, 10, 3), (1, 2, 3), (2, 17, 2)]:
        epochs = rung_epochs(low, high, eta)
        assert epochs[0] == low and epochs[-1] == high
        assert all(a < b <= a * eta for a, b in zip(epochs, epochs[1:]))


def test_promote_keeps_the_best_fraction_and_ranks_missing_losses_last():
    losses = {0: 3.0, 1: None, 2: 1.0, 3: float("nan"), 4: 2.0, 5: 0.5}
    assert promote(losses, 3) == [5, 2]
    assert promote({7: None}, 3) == [7]


def test_the_formula_best_trial_survives_and_poor_trials_stop_at_the_first_rung(tmp_path):
    fake = FakeTrainer()
    table, best = run_fake(tmp_path, fake)
    trials = sample_trials(SearchSpace(), 9, seed=3)
    by_formula = sorted(trials, key=lambda t: FakeTrainer.loss(TrainConfig(lr=t.lr, weight_decay=t.weight_decay,
                                                                              color_jitter=t.color_jitter)))
    rung_sizes = table[table["status"] != "skipped"].groupby("rung").size().to_dict()
    assert rung_sizes == {0: 9, 1: 3, 2: 1}  # 9 → 3 → 1, each with eta x the epochs
    assert table.groupby("rung")["epochs"].unique().map(list).to_dict() == {0: [1], 1: [3], 2: [9]}
    assert best["trial"] == by_formula[0].trial and best["rung"] == 2
    assert best["config"]["lr"] == by_formula[0].lr and best["config"]["head_epochs"] + best["config"]["epochs"] == 9
    poor = {t.trial for t in by_formula[3:]}
    assert set(table.loc[table["trial"].isin(poor), "rung"]) == {0}
    assert set(table.loc[table["trial"].isin(poor), "status"]) == {"stopped"}
    assert table.loc[(table["rung"] == 0) & table["trial"].isin({t.trial for t in by_formula[:3]}), "status"].eq(
        "promoted").all()
    assert fake.epochs() == 9 * 1 + 3 * 3 + 1 * 9
    written = pd.read_csv(tmp_path / "tune" / "trials.csv")
    assert written["val_loss"].min() == pytest.approx(best["metrics"]["val_loss"])
    assert json.loads((tmp_path / "tune" / "best.json").read_text())["trial"] == best["trial"]
    # each rung trains in its own run directory (retrained from scratch at the larger budget)
    assert len({(name, config.total_epochs) for name, config, _ in fake.calls}) == len(fake.calls)


@pytest.mark.parametrize("budget", [5, 12, 17, 40])
def test_the_epoch_budget_is_never_exceeded(tmp_path, budget):
    fake = FakeTrainer()
    table, best = run_fake(tmp_path, fake, budget_epochs=budget)
    assert fake.epochs() <= budget
    assert table.loc[table["status"] != "skipped", "epochs_run"].sum() == fake.epochs()
    if budget < 9 + 3 * 3 + 9:
        assert (table["status"] == "skipped").any()
    assert best is not None and best["epochs_spent"] <= budget


@pytest.mark.parametrize("trials, expected", [(8, 8 * 1 + 2 * 3 + 1 * 9), (9, 9 * 1 + 3 * 3 + 1 * 9),
                                              (2, 2 * 1 + 1 * 9), (3, 3 * 1 + 1 * 9), (1, 9)])
def test_the_plan_total_counts_every_run_of_every_rung(trials, expected):
    assert plan_epochs(trials, Halving(min_epochs=1, max_epochs=9, eta=3)) == expected


@pytest.mark.parametrize("trials, halving", [(9, {}), (8, {}), (13, {}), (3, {}), (1, {"min_epochs": 2}),
                                             (7, {"max_epochs": 10, "eta": 2}),
                                             (4, {"min_epochs": 2, "max_epochs": 3, "eta": 2})])
@pytest.mark.parametrize("trainer", [FakeTrainer, EarlyStoppingTrainer])
def test_without_budget_epochs_the_plan_bounds_the_search(tmp_path, capsys, trials, halving, trainer):
    fake = trainer()
    table, best = run_fake(tmp_path, fake, trials=trials, **halving)
    budget = best["budget_epochs"]
    assert f"budget {budget} epochs" in capsys.readouterr().out  # announced before training
    assert fake.epochs() <= budget and best["epochs_spent"] == fake.epochs()
    assert not (table["status"] == "skipped").any()  # the plan's own total pays for the whole plan
    assert table.loc[table["rung"] == table["rung"].min(), "trial"].nunique() == trials
    if trainer is FakeTrainer:  # no early stops: the plan is spent exactly, not more
        assert fake.epochs() == budget
    assert json.loads((tmp_path / "tune" / "search.json").read_text())["budget_epochs"] == budget


def test_a_lone_survivor_goes_straight_to_the_top_rung(tmp_path):
    fake = FakeTrainer()
    table, best = run_fake(tmp_path, fake, trials=3)  # 3 trials, eta 3: one survivor after rung 0
    assert sorted(table["rung"]) == [0, 0, 0, 2] and best["rung"] == 2


def test_rerunning_reads_finished_trials_back(tmp_path):
    first, best = run_fake(tmp_path, FakeTrainer())
    again = FakeTrainer()
    second, best_again = run_fake(tmp_path, again)
    assert again.calls == []
    pd.testing.assert_frame_equal(first, second)
    assert best_again == best


def test_finished_trials_of_another_split_are_refused_not_ranked(tmp_path):
    """Audit X: after a re-split, the same search read its finished trials back (trained on the old
    split: 7 of 12 new val photos were their training photos) and ranked them against new ones."""
    first, _ = tune(tmp_path / "tune", SearchSpace(), BASE, FakeTrainer(), trials=3, seed=3,
                    halving=Halving(min_epochs=1, max_epochs=9, eta=3), split_key="split-a")
    again = FakeTrainer()
    same, _ = tune(tmp_path / "tune", SearchSpace(), BASE, again, trials=3, seed=3,
                   halving=Halving(min_epochs=1, max_epochs=9, eta=3), split_key="split-a")
    assert again.calls == [] and same.equals(first)
    other = FakeTrainer()
    with pytest.raises(DataContractError, match="the split or the labels changed since the finished run in .*trial-0"):
        tune(tmp_path / "tune", SearchSpace(), BASE, other, trials=3, seed=3,
             halving=Halving(min_epochs=1, max_epochs=9, eta=3), split_key="split-b")
    assert other.calls == []
    # a search written before splits were recorded is read back as it was
    old = FakeTrainer()
    run_fake(tmp_path / "older", FakeTrainer(), trials=3)
    tune(tmp_path / "older" / "tune", SearchSpace(), BASE, old, trials=3, seed=3,
         halving=Halving(min_epochs=1, max_epochs=9, eta=3), split_key="split-b")
    assert old.calls == []


def test_one_label_to_train_on_is_refused_before_the_search_writes_anything():
    from classify.tune_run import require_val_photos
    from tests.test_split import make_catalog

    rows = [{"source_id": f"p{i}", "label": "Coast", "split": "val" if i % 5 == 0 else "train",
             "image_path": f"images/{i}.jpg", "sha256": f"{i:064x}"} for i in range(20)]
    with pytest.raises(UsageError, match="at least two labels"):
        require_val_photos(make_catalog(rows))


def test_an_interrupted_search_resumes_without_training_anything_twice(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run_fake(tmp_path, FakeTrainer(fail_after=10))
    partial = pd.read_csv(tmp_path / "tune" / "trials.csv")
    assert (partial["status"] != "skipped").sum() == 10  # the table is kept up to date while the search runs
    assert not partial["status"].isin(["stopped", "best"]).any()  # nothing decided yet
    rest = FakeTrainer()
    table, _ = run_fake(tmp_path, rest)
    assert len(rest.calls) == 13 - 10
    assert len(table) == 13 and table["status"].isin(["promoted", "stopped", "best"]).all()


def test_a_run_killed_mid_training_is_resumed_from_its_checkpoint(tmp_path):
    killed = tmp_path / "tune" / "trial-004" / "rung-0"
    killed.mkdir(parents=True)
    (killed / "checkpoint.pt").write_bytes(b"stand-in")
    fake = FakeTrainer()
    run_fake(tmp_path, fake, trials=6, max_epochs=1)
    assert [(name, resume) for name, _, resume in fake.calls if resume] == [("trial-004", True)]


def test_a_larger_budget_continues_and_other_settings_are_refused(tmp_path):
    run_fake(tmp_path, FakeTrainer(), budget_epochs=9)
    more = FakeTrainer()
    table, _ = run_fake(tmp_path, more, budget_epochs=100)
    assert sorted(config.total_epochs for _, config, _ in more.calls) == [3, 3, 3, 9]
    assert "skipped" not in set(table["status"])
    with pytest.raises(UsageError, match="eta"):
        run_fake(tmp_path, FakeTrainer(), eta=2)


def test_the_best_config_round_trips_through_best_json_and_its_train_line(tmp_path):
    base = TrainConfig(image_size=48, cache_side=64, batch_size=16, workers=0, label_smoothing=0.1, patience=2)
    fake = FakeTrainer()
    _, best = tune(tmp_path / "tune", SearchSpace(augment_min=0.1, augment_max=0.9), base, fake, trials=6, seed=2,
                   halving=Halving(min_epochs=1, max_epochs=3, eta=3), workspace_root=tmp_path / "ws")
    written = pd.read_csv(tmp_path / "tune" / "trials.csv")
    winner = written[written["status"] == "best"].iloc[0]
    trained = [config for name, config, _ in fake.calls
               if name == f"trial-{winner['trial']:03d}" and config.total_epochs == winner["epochs"]]
    assert len(trained) == 1
    from_json = TrainConfig.from_dict(json.loads((tmp_path / "tune" / "best.json").read_text())["config"])
    assert from_json == trained[0] == train_line_config(best["train_command"])
    assert (from_json.color_jitter, from_json.crop_scale) == (winner["color_jitter"], winner["crop_scale"])
    assert augmentation(best["augment"]) == (winner["color_jitter"], winner["crop_scale"])
    assert (from_json.cache_side, from_json.label_smoothing, from_json.patience) == (64, 0.1, 2)
    retrained = tmp_path / "ws" / "runs" / "tuned-tune"  # one per search folder
    for flag in ("--color-jitter", "--crop-scale", "--cache-side 64", f"--out {retrained}"):
        assert flag in best["train_command"]


def test_a_search_folder_from_before_augment_is_refused_with_a_clear_error(tmp_path):
    out = tmp_path / "tune"
    out.mkdir()
    old = {"space": {"lr_min": 1e-4, "lr_max": 3e-2, "wd_min": 1e-5, "wd_max": 1e-1, "jitter_min": 0.0,
                     "jitter_max": 0.4}, "trials": 9, "mode": "random", "seed": 3, "min_epochs": 1, "max_epochs": 9,
           "eta": 3, "budget_epochs": None, "base_config": {}}
    (out / "search.json").write_text(json.dumps(old))
    fake = FakeTrainer()
    with pytest.raises(UsageError, match="another --out"):
        run_fake(tmp_path, fake)
    assert fake.calls == [] and json.loads((out / "search.json").read_text()) == old


def test_outcome_uses_the_best_finite_validation_epoch():
    history = [{"val_loss": 2.0, "val_accuracy": 0.3}, {"val_loss": float("nan"), "val_accuracy": 0.1},
               {"val_loss": 1.5, "val_accuracy": 0.4}, {"val_loss": 1.7, "val_accuracy": 0.6}]
    outcome = outcome_from_history(history)
    assert (outcome.val_loss, outcome.val_accuracy, outcome.epochs_run) == (1.5, 0.4, 4)
    assert outcome_from_history([{"val_loss": None, "val_accuracy": None}]).val_loss is None


# ---------------------------------------------------------------- the command, for real (CPU, tiny)
@pytest.fixture(scope="module")
def split_ws(tmp_path_factory):
    return demo_workspace(tmp_path_factory.mktemp("tune"))


def test_tune_end_to_end_on_a_tiny_workspace(split_ws, tmp_path):
    out = tmp_path / "search"
    args = ["tune", "--workspace", str(split_ws.root), "--out", str(out), "--trials", "2", "--max-epochs", "2",
            "--image-size", "48", "--cache-side", "56", "--batch-size", "16", "--workers", "0", "--device", "cpu",
            "--seed", "1"]
    result = runner.invoke(classify_app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "trials.csv")
    best = json.loads((out / "best.json").read_text())
    assert len(table) == 3 and table["val_loss"].notna().all()  # 2 trials at 1 epoch, the survivor at 2
    assert sorted(table["epochs"]) == [1, 1, 2] and set(table["epochs_run"]) <= {1, 2}
    assert best["metrics"]["val_loss"] == pytest.approx(table["val_loss"].min())
    assert (table["status"] == "best").sum() == 1
    assert "classify train" in result.output and f"--lr {best['config']['lr']:g}" in best["train_command"]
    assert "budget 4 epochs" in result.output  # 2 trials x 1 epoch, then the survivor x 2 (no --budget-epochs)
    assert train_line_config(best["train_command"]) == TrainConfig.from_dict(best["config"])
    assert best["config"]["cache_side"] == 56 and "--cache-side 56" in best["train_command"]
    assert (out / table.loc[table["status"] == "best", "run_dir"].iloc[0] / "model.safetensors").is_file()
    again = runner.invoke(classify_app, args)  # resumes: everything is read back
    assert again.exit_code == 0 and "epoch 1 (stage 1)" not in again.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "trials.csv"), table)
    # the same search over a re-split copy of the workspace: its finished trials are refused, exit 3
    import shutil

    other = tmp_path / "resplit"
    shutil.copytree(split_ws.root, other)
    assert runner.invoke(curate_app, ["split", "--workspace", str(other), "--seed", "7"]).exit_code == 0
    resplit = runner.invoke(classify_app, [*args[:2], str(other), *args[3:]])
    assert resplit.exit_code == 3
    assert "the split or the labels changed since the finished run" in " ".join(resplit.output.split())
    assert "epoch 1 (stage 1)" not in resplit.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "trials.csv"), table)


@pytest.mark.parametrize("args, message", [
    (["--lr-min", "0.1", "--lr-max", "0.01"], "--lr-min"),
    (["--wd-min", "0"], "both to 0"),
    (["--min-epochs", "5", "--max-epochs", "2"], "--min-epochs"),
    (["--eta", "1"], "--eta"),
    (["--mode", "bayes"], "--mode"),
    (["--budget-epochs", "0"], "--budget-epochs"),
    (["--augment-min", "0.8", "--augment-max", "0.2"], "--augment-min"),
    (["--augment-max", "1.5"], "--augment-max"),
    (["--workers", "-1"], "--workers"),
    (["--cache-side", "100"], "--cache-side"),
    (["--image-size", "48", "--cache-side", "40"], "--cache-side"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, args, message):
    result = runner.invoke(classify_app, ["tune", "--workspace", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_a_probe_base_is_refused_before_any_trial(tmp_path):
    """A probe has no learning rate, augmentation or epochs: every trial would be the same fit."""
    from classify.tune import tune

    trained = []
    with pytest.raises(UsageError, match="--probe"):
        tune(tmp_path / "search", SearchSpace(), TrainConfig(probe=True), lambda *a, **k: trained.append(a))
    assert not trained and not (tmp_path / "search").exists()


def test_resuming_with_another_training_setting_names_its_flag(tmp_path):
    """The refusal said '(base_config)'; `classify train --resume` names the field (classify audit 9)."""
    from curate.errors import UsageError

    run_fake(tmp_path, FakeTrainer(), trials=2)
    other = replace(BASE, image_size=40)
    with pytest.raises(UsageError, match=r"other settings \(--image-size\)"):
        tune(tmp_path / "tune", SearchSpace(), other, FakeTrainer(), trials=2, seed=3,
             halving=Halving(min_epochs=1, max_epochs=9, eta=3))
