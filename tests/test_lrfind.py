"""`classify lr-find`: the suggestion rule on synthetic loss curves whose right answer is known
by construction, and the command end to end on a tiny demo workspace (CPU)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.lrfind import FALLBACK, MIN_WARMUP, STEEPEST, smooth, suggest, usable_length
from tests.helpers import demo_workspace, examples

runner = CliRunner()

# The steep region of the synthetic curves: flat above it, falling inside it (fastest at 1e-3).
STEEP_LOW, STEEP_HIGH, DIVERGES = 1e-4, 1e-2, 1e-1


def curve(steps: int = 200, noise: float = 0.0, seed: int = 0, diverge: bool = True):
    """Rates 1e-7..1 and a loss that is flat (2.0) below 1e-4, falls to ~0.0 between 1e-4 and
    1e-2 (a tanh in log10(rate), steepest at 1e-3), is flat up to 1e-1, then explodes."""
    rates = np.logspace(-7, 0, steps)
    losses = 1.0 - np.tanh(1.5 * (np.log10(rates) + 3)) + 0.05
    if diverge:
        losses = losses + np.where(rates > DIVERGES, 200 * (rates - DIVERGES), 0.0)
    return rates, losses + np.random.default_rng(seed).normal(0, noise, steps)


# ---------------------------------------------------------------- the suggestion rule

def test_suggestion_lies_in_the_steep_region():
    rates, losses = curve()
    found = suggest(rates, losses)
    assert found.rule == STEEPEST
    assert STEEP_LOW < found.rate < STEEP_HIGH
    assert found.rate < found.minimum_rate < DIVERGES * 10  # the steepest point comes before the minimum


@settings(max_examples=examples(60), deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(20, 400), noise=st.floats(0, 0.1))
def test_batch_noise_does_not_move_the_suggestion_out_of_the_steep_region(seed, steps, noise):
    rates, losses = curve(steps, noise, seed)
    found = suggest(rates, losses)
    assert found.rule == STEEPEST and STEEP_LOW < found.rate < STEEP_HIGH


@pytest.mark.parametrize("steps", [20, 100])
@pytest.mark.parametrize("first_losses", [[9.0, 0.1, 6.0],  # wild batches
                                          [0.01, 5.0, 0.02],  # a lucky first batch: the lowest loss of all
                                          [3.0, 2.8, 2.6]])  # falling fast at the start rates
def test_noisy_first_points_do_not_pull_the_suggestion_to_the_start_rate(first_losses, steps):
    # the audit's case: few batches, the first ones off the curve
    rates, losses = curve(steps=steps)
    losses[: len(first_losses)] = first_losses
    found = suggest(rates, losses)
    assert found.first >= MIN_WARMUP and found.minimum_rate > rates[MIN_WARMUP - 1]
    assert found.rule == STEEPEST and STEEP_LOW < found.rate < STEEP_HIGH


@pytest.mark.parametrize("shape", ["flat", "rising", "flat then diverging"])
def test_a_curve_that_never_descends_gets_the_minimum_over_ten(shape):
    rates = np.logspace(-7, 0, 60)
    losses = {"flat": np.full(60, 2.0),
              "rising": 2.0 + np.log10(rates / rates[0]) * 0.1,
              "flat then diverging": 2.0 + np.where(rates > 1e-2, 100 * rates, 0.0)}[shape]
    found = suggest(rates, losses)
    assert found.rule == FALLBACK
    assert found.rate == pytest.approx(found.minimum_rate / 10)
    assert found.minimum_rate < 1e-2 or shape != "flat then diverging"


def test_wiggles_are_not_a_clear_descent():
    rates = np.logspace(-7, 0, 100)
    losses = 2.0 + 0.01 * np.sin(np.arange(100))  # wiggles of 0.5%, far under a 5% fall
    assert suggest(rates, losses).rule == FALLBACK


def test_a_fall_smaller_than_the_batch_noise_is_not_a_clear_descent():
    # a real but small fall (0.15, 6% of the level) under batch noise of sd 0.3: what 20 noisy
    # batches of an untrained head look like; the test cannot tell where the loss falls fastest.
    # Noise alone sometimes looks like a descent (1 seed in 3,000 did, seed 38035 among others: a
    # hypothesis draw of 30 seeds failed the suite about once in a hundred runs), so the rule is held
    # to a rate over fixed seeds, not to every seed.
    rates = np.logspace(-7, 0, 100)
    found = [suggest(rates, 2.5 - 0.15 * (rates > 1e-3) + np.random.default_rng(seed).normal(0, 0.3, 100))
             for seed in range(500)]
    fallback = [item for item in found if item.rule == FALLBACK]
    assert len(fallback) >= 0.99 * len(found)
    assert all(item.rate == pytest.approx(item.minimum_rate / 10) for item in fallback)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_points_from_a_non_finite_loss_on_are_ignored(bad):
    rates, losses = curve(diverge=False)
    cut = int(np.searchsorted(rates, DIVERGES))
    broken = losses.copy()
    broken[cut] = bad
    broken[cut + 1:] = -5.0  # garbage after the blow-up: would be the minimum if it counted
    found = suggest(rates, broken)
    assert found == suggest(rates[:cut], losses[:cut], steps=len(rates))  # the same test, stopped at the blow-up
    assert STEEP_LOW < found.rate < STEEP_HIGH and found.minimum_rate < DIVERGES


def test_points_after_divergence_are_ignored():
    rates, losses = curve()
    start = int(np.searchsorted(rates, 0.3))
    losses[start + 10:] = 0.0  # the loss "recovers" after exploding: meaningless, must not count
    found = suggest(rates, losses)
    assert found.minimum_rate < 0.3 and STEEP_LOW < found.rate < STEEP_HIGH
    assert found.first + len(found.smoothed) <= start + 10


def test_usable_length_stops_at_divergence():
    losses = np.array([1.0] * 10 + [30.0] * 5 + [1.0] * 5)
    assert usable_length(losses) == 10  # smoothed 1 -> first point above 4x the minimum
    assert usable_length(np.array([1.0, 1.0, math.nan, 1.0])) == 2
    assert usable_length(np.ones(7)) == 7


def test_smoothing_keeps_a_constant_and_damps_noise():
    assert np.allclose(smooth(np.full(30, 3.0)), 3.0)  # bias-corrected: no ramp from 0
    noisy = 1.0 + np.random.default_rng(1).normal(0, 0.5, 500)
    assert smooth(noisy)[50:].std() < 0.4 * noisy[50:].std()


@pytest.mark.parametrize("rates, losses", [([1e-3, 1e-2], [1.0, 1.0]),  # too few points
                                           ([1e-3, 1e-2, 1e-1, 1.0], [1.0, math.nan, 1.0, 1.0]),
                                           ([1e-2, 1e-3, 1e-1, 1.0], [1.0, 1.0, 1.0, 1.0]),  # not increasing
                                           ([1e-3, 1e-2, 1e-1], [1.0, 1.0])])  # lengths differ
def test_unusable_input_is_a_value_error(rates, losses):
    with pytest.raises(ValueError):
        suggest(rates, losses)


# ---------------------------------------------------------------- the command

@pytest.fixture(scope="module")
def split_ws(tmp_path_factory):
    return demo_workspace(tmp_path_factory.mktemp("lrfind"))


def test_lr_find_command_suggests_a_rate_inside_the_tested_range(split_ws, tmp_path):
    out = tmp_path / "lr"
    start_lr, end_lr = 1e-7, 1.0
    # the audit's settings: few steps, small batches, where batch noise dominates the first points
    result = runner.invoke(classify_app, ["lr-find", "--workspace", str(split_ws.root), "--out", str(out),
                                          "--steps", "20", "--batch-size", "16", "--image-size", "48",
                                          "--cache-side", "56", "--workers", "0", "--device", "cpu",
                                          "--start-lr", str(start_lr), "--end-lr", str(end_lr)])
    assert result.exit_code == 0, result.output
    found = json.loads((out / "lr_find.json").read_text())
    assert (out / "lr_find.png").stat().st_size > 1000
    suggestion = found["suggestion"]
    # > start_lr even for the fallback rule: the minimum lies after the 3 warm-up points, 10x above the start
    assert math.isfinite(suggestion) and suggestion > start_lr
    stopped = found["diverged_at"] if found["diverged_at"] is not None else end_lr
    assert suggestion < stopped and found["minimum_rate"] <= stopped
    assert len(found["rates"]) == len(found["losses"]) == len(found["smoothed"]) <= 20
    assert f"suggested --lr {suggestion:.2e}" in result.output
    assert "LR range test (20 batches)" in result.output  # the progress bar
    # --cache-side: the command used (and built) the 56-px cache, not a 256-px one
    assert (split_ws.root / "cache" / "resized-56").is_dir()
    assert not (split_ws.root / "cache" / "resized-256").exists()


@pytest.mark.parametrize("options, word", [(["--start-lr", "0.1", "--end-lr", "0.01"], "--start-lr"),
                                           (["--steps", "3"], "--steps"),
                                           (["--workers", "-1"], "--workers"),
                                           (["--image-size", "64", "--cache-side", "48"], "--cache-side")])
def test_bad_options_give_one_line_and_exit_2(tmp_path, options, word):
    result = runner.invoke(classify_app, ["lr-find", "--workspace", str(tmp_path), "--device", "cpu", *options])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and word in result.output
    assert len(result.output.strip().splitlines()) == 1
