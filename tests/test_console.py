"""Progress off a terminal: steady plain lines instead of a bar that prints only at the end."""

from __future__ import annotations

import subprocess
import sys

from curate.console import ProgressLines


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lines_for(total: int, steps: list[tuple[int, float]]) -> list[str]:
    clock, out = Clock(), []
    lines = ProgressLines("embed", total, out.append, clock=clock)
    for n, seconds in steps:
        clock.now += seconds
        lines.advance(n)
    lines.finish()
    return out


def test_a_line_at_every_tenth_of_the_work_and_a_closing_line():
    out = lines_for(100, [(1, 0.1)] * 100)
    assert [line.split(":")[1].split("(")[0].strip() for line in out] == \
        [f"{n}/100" for n in range(10, 100, 10)] + ["100/100"]
    assert out[-1].startswith("embed: 100/100 (100%)") and "left" not in out[-1]
    assert "left" in out[0]


def test_a_slow_step_prints_every_30_seconds_between_tenths():
    out = lines_for(1000, [(1, 20.0)] * 6)  # 6 items, 120 s: no tenth reached
    assert len(out) == 1 + 3  # at 40 s, 80 s, 120 s (each 30 s after the last line), then the close
    assert out[0].startswith("embed: 2/1,000") and "40s" in out[0]


def test_a_big_advance_prints_once_not_once_per_tenth():
    out = lines_for(100, [(95, 1.0), (5, 1.0)])
    assert len(out) == 2 and out[0].startswith("embed: 95/100")


def test_piped_output_gets_progress_lines_before_the_end():
    code = ("from curate.console import progress_bar\n"
            "with progress_bar('work', 20) as advance:\n"
            "    for _ in range(20): advance()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("work:")]
    assert len(lines) == 10 and lines[0].startswith("work: 2/20 (10%)") and lines[-1].startswith("work: 20/20")


def test_a_long_progress_line_is_not_wrapped_in_a_narrow_log():
    code = ("from curate.console import progress_bar\n"
            "with progress_bar('resizing 2,341 images to a 120px short side (once), a long description', 10) as a:\n"
            "    for _ in range(10): a()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "COLUMNS": "60"})
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 10 and all(line.startswith("resizing 2,341 images") for line in lines)


def test_a_long_wait_with_no_count_says_it_is_still_going_and_a_short_one_stays_quiet():
    """Off a terminal a rich spinner prints nothing: `curate filter` sat silent for minutes in the
    all-real-photos audit. A wait now prints a line every interval while it lasts."""
    import threading

    from curate.console import waiting_lines

    out: list[str] = []
    written = threading.Event()

    def write(text: str) -> None:
        out.append(text)
        written.set()

    with waiting_lines("near-duplicate candidates", write, every_s=0.05) as update:
        assert written.wait(5)
        update("near-duplicate candidates (2 of 3)")
        written.clear()
        assert written.wait(5)
    settled = len(out)
    assert out[0].startswith("near-duplicate candidates: still working, ")
    assert out[-1].startswith("near-duplicate candidates (2 of 3): still working, ")
    with waiting_lines("quick", out.append, every_s=60):
        pass
    assert len(out) == settled  # a wait shorter than the interval prints nothing, and the lines stop at the end


def test_piped_output_gets_a_line_while_a_long_wait_goes_on():
    code = ("import time\n"
            "import curate.console as c\n"
            "c.LINE_EVERY_S = 0.2\n"
            "with c._status('hashing'):\n"
            "    time.sleep(1.0)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("hashing: still working")]
    assert 2 <= len(lines) <= 6, result.stderr


def test_a_step_stuck_on_slow_items_still_prints_every_30_seconds():
    """An audit's piped download log fell silent for 80 s while three slow URLs ran (a line was printed only when
    an item finished). `tick` (called every 30 s by the piped bar's own thread) prints one anyway."""
    clock, out = Clock(), []
    lines = ProgressLines("downloading", 48, out.append, clock=clock)
    lines.advance(44)
    clock.now += 20
    lines.tick()
    assert len(out) == 1  # the tenth line at 44; 20 s since: nothing yet
    clock.now += 15
    lines.tick()
    assert len(out) == 2 and out[-1].startswith("downloading: 44/48") and "35s" in out[-1]


def test_piped_output_prints_while_nothing_advances():
    code = ("import time\n"
            "import curate.console as console\n"
            "console.LINE_EVERY_S = 0.2\n"
            "with console.progress_bar('slow', 5) as advance:\n"
            "    advance(); time.sleep(1.1); advance()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("slow: 1/5")]
    assert len(lines) >= 3  # the first item, then a line every 0.2 s of the second's wait
