"""UI benchmark: keystroke → repaint latency and full refresh at 100 sessions, vs an empty-app baseline.

    python benchmarks/ui.py [--sessions 100] [--rate 300] [--samples 60] [--no-write]

The app runs with a synthetic engine feeding ``--rate`` events/s (output, stats, state changes, triggers)
across all sessions. Frames are fully rendered to terminal escape sequences (a driver that is not
headless but discards the bytes), and a keystroke's latency is measured from injecting the key until
the end of the first frame written after the key took effect. The baseline is a bare Textual app with one
Static updated per key, measured the same way in the same run. Results are printed and written to
``docs/ui.md``; a screenshot of the dashboard goes to ``docs/dashboard.svg``.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.drivers.headless_driver import HeadlessDriver
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the synthetic engine is a test double

from synthetic_engine import EPOCH, SyntheticEngine  # noqa: E402

from cortex_tui.ui import present  # noqa: E402
from cortex_tui.ui.app import CortexApp  # noqa: E402
from cortex_tui.ui.screens.session import SessionScreen  # noqa: E402

SIZE = (160, 48)


class RenderingDriver(HeadlessDriver):
    """Renders every frame to escape sequences like a real terminal driver, then drops the bytes."""

    bytes_written = 0

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        RenderingDriver.bytes_written += len(data)


class FrameClock:
    """Records the end time of every frame the app writes."""

    def __init__(self, app: App[Any]) -> None:
        self.frames: list[float] = []
        app.post_display_hook = self._hook  # type: ignore[method-assign]

    def _hook(self) -> None:
        self.frames.append(time.perf_counter())


async def keystroke(pilot: Pilot[Any], clock: FrameClock, key: str, effect: Callable[[], bool]) -> float:
    """Seconds from injecting ``key`` to the end of the first frame written after its effect is visible."""
    t0 = time.perf_counter()
    task = asyncio.create_task(pilot.press(key))
    while not effect():
        if time.perf_counter() - t0 > 10:
            raise RuntimeError(f"key {key!r} had no visible effect within 10 s")
        await asyncio.sleep(0)
    n = len(clock.frames)
    while len(clock.frames) <= n:
        await asyncio.sleep(0)
    t1 = clock.frames[n]
    await task
    return t1 - t0


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def ms(x: float) -> str:
    return f"{x * 1000:.1f}"


# ---------------------------------------------------------------- baseline


class _BaseScreen(Screen[None]):
    BINDINGS = [("escape", "app.pop_screen", "back")]

    def compose(self) -> ComposeResult:
        yield Static("a screen")


class BaselineApp(App[None]):
    """The floor: a bare app with one Static changed by each key press."""

    BINDINGS = [("down", "bump", "bump"), ("enter", "open", "open")]

    def __init__(self) -> None:
        super().__init__(driver_class=RenderingDriver)
        self.count = 0

    def compose(self) -> ComposeResult:
        yield Static("0", id="n")

    def action_bump(self) -> None:
        self.count += 1
        self.query_one("#n", Static).update(str(self.count))

    def action_open(self) -> None:
        self.push_screen(_BaseScreen())


async def bench_baseline(samples: int) -> dict[str, list[float]]:
    app = BaselineApp()
    out: dict[str, list[float]] = {"down": [], "open": []}
    async with app.run_test(headless=False, size=SIZE) as pilot:
        clock = FrameClock(app)
        await pilot.pause(0.2)
        for _ in range(samples):
            want = app.count + 1

            def bumped(w: int = want) -> bool:
                return app.count >= w

            out["down"].append(await keystroke(pilot, clock, "down", bumped))
            await pilot.pause(0.01)
        for _ in range(max(10, samples // 3)):
            out["open"].append(await keystroke(pilot, clock, "enter", lambda: isinstance(app.screen, _BaseScreen)))
            await pilot.press("escape")
            await pilot.pause(0.02)
    return out


# ---------------------------------------------------------------- cortex-tui


async def bench_cortex(n: int, rate: float, samples: int) -> dict[str, Any]:
    eng = SyntheticEngine(n, live=True, rate=rate, clock=time.time)
    app = CortexApp(eng, clock=time.time, tune_gc=True)  # as run_tui() runs it
    app.driver_class = RenderingDriver
    res: dict[str, Any] = {"down": [], "open": [], "back": [], "burst": [], "flush": []}
    async with app.run_test(headless=False, size=SIZE) as pilot:
        clock = FrameClock(app)
        table = app.dashboard.table
        while table.row_count < n or not app.supervising:
            await pilot.pause(0.05)
        await pilot.pause(0.5)

        # steady state under load: frames/s, table flushes/s, CPU share
        f0, fl0, cpu0, w0 = len(clock.frames), app.dashboard.flushes, time.process_time(), time.perf_counter()
        await asyncio.sleep(3.0)
        wall = time.perf_counter() - w0
        res["frames_per_s"] = (len(clock.frames) - f0) / wall
        res["flushes_per_s"] = (app.dashboard.flushes - fl0) / wall
        res["cpu_share"] = (time.process_time() - cpu0) / wall

        print("steady state measured", file=sys.stderr)
        # cursor down (wrap to the top before the end)
        for _ in range(samples):
            if table.cursor_row >= table.row_count - 2:
                await pilot.press("home")
            before = table.current_key  # rows may re-sort under live load; the cursor follows its session

            def moved(b: str | None = before) -> bool:
                return table.current_key != b

            res["down"].append(await keystroke(pilot, clock, "down", moved))
            await pilot.pause(0.01)

        print("cursor down measured", file=sys.stderr)
        # open the session view and go back
        for _ in range(max(10, samples // 3)):
            res["open"].append(await keystroke(pilot, clock, "enter", lambda: isinstance(app.screen, SessionScreen)
                                               and app.screen.is_mounted))
            await pilot.pause(0.05)
            res["back"].append(await keystroke(pilot, clock, "escape", lambda: app.screen is app.dashboard))
            await pilot.pause(0.05)

        # full refresh after a burst: every session changes at once; time until all rows show it on screen
        # (the background stream pauses so that "all rows current" is well defined)
        eng.paused = True
        await pilot.pause(0.3)
        cpu_col = present.COLUMN_KEYS.index("cpu")
        for _ in range(10):
            t0 = time.perf_counter()
            eng.burst()
            expected = {name: f"{r.cpu_percent:.0f}%" for name, r in eng.state.sessions.items()}

            def all_rows_current(expected: dict[str, str] = expected) -> bool:
                return all(table.get_row(k)[cpu_col].plain == v for k, v in expected.items()
                           if eng.state.sessions[k].cpu_percent is not None)

            while not all_rows_current():
                await asyncio.sleep(0)
            n_frames = len(clock.frames)
            while len(clock.frames) <= n_frames:
                await asyncio.sleep(0)
            res["burst"].append(clock.frames[n_frames] - t0)
            await pilot.pause(0.2)

        print("bursts measured", file=sys.stderr)
        # the cost of one full table flush (all rows recomputed and diffed), isolated
        dash = app.dashboard
        for _ in range(10):
            for name in eng.state.sessions:
                eng.tick_stats(name)
            dash.mark_dirty(None)
            t0 = time.perf_counter()
            dash.flush()
            res["flush"].append(time.perf_counter() - t0)
            await pilot.pause(0.05)
        res["gc_collections"] = app.gc.collections
        eng.request_stop()
    assert not app.gc.active  # the app gave the process its normal collector back
    return res


async def screenshot(path: Path, n: int) -> None:
    app = CortexApp(SyntheticEngine(n), clock=lambda: EPOCH, ticking=False)
    async with app.run_test(size=(120, 32)) as pilot:
        while app.dashboard.table.row_count < n:
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        app.save_screenshot(filename=path.name, path=str(path.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--rate", type=float, default=300.0, help="synthetic engine events per second")
    ap.add_argument("--samples", type=int, default=60)
    ap.add_argument("--no-write", action="store_true", help="do not write docs/ui.md and docs/dashboard.svg")
    ns = ap.parse_args()

    base = asyncio.run(bench_baseline(ns.samples))
    res = asyncio.run(bench_cortex(ns.sessions, ns.rate, ns.samples))

    rows: list[tuple[str, list[float], list[float] | None, str]] = [
        ("cursor down", res["down"], base["down"], "≤ 50 ms p95"),
        ("open session view (enter)", res["open"], base["open"], "≤ 50 ms p95"),
        ("back to dashboard (esc)", res["back"], base["open"], "≤ 50 ms p95"),
        ("all rows visible after a burst", res["burst"], None, "≤ 500 ms"),
        ("one full table flush (CPU)", res["flush"], None, "—"),
    ]
    lines = [
        f"| measurement ({ns.sessions} sessions, {ns.rate:.0f} events/s) | p50 ms | p95 ms | baseline p50 / p95 ms "
        "| ratio p95 | target |",
        "|---|---|---|---|---|---|",
    ]
    for label, xs, bs, target in rows:
        b = f"{ms(pct(bs, 50))} / {ms(pct(bs, 95))}" if bs else "—"
        ratio = f"{pct(xs, 95) / pct(bs, 95):.1f}×" if bs else "—"
        lines.append(f"| {label} | {ms(pct(xs, 50))} | {ms(pct(xs, 95))} | {b} | {ratio} | {target} |")
    steady = (f"Under load: {res['frames_per_s']:.1f} frames/s written, {res['flushes_per_s']:.1f} table flushes/s "
              f"(coalescing cap 10/s), UI process CPU {res['cpu_share'] * 100:.0f}% of one core "
              f"(includes the synthetic engine generating the events).")
    env = (f"Machine: {platform.machine()}, {platform.system()} {platform.release()}, Python "
           f"{platform.python_version()}, textual {__import__('textual').__version__}; terminal {SIZE[0]}×{SIZE[1]}; "
           f"{ns.samples} keystroke samples.")
    table_md = "\n".join(lines)
    print(table_md)
    print(steady)
    print(env)

    if ns.no_write:
        return
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    asyncio.run(screenshot(docs / "dashboard.svg", 24))
    base_md = (docs / "ui.md").read_text(encoding="utf-8") if (docs / "ui.md").exists() else ""
    marker_start, marker_end = "<!-- bench:ui start -->", "<!-- bench:ui end -->"
    block = f"{marker_start}\n{table_md}\n\n{steady}\n\n{env}\n{marker_end}"
    if marker_start in base_md and marker_end in base_md:
        head, _, rest = base_md.partition(marker_start)
        _, _, tail = rest.partition(marker_end)
        new = head + block + tail
    else:
        new = base_md.rstrip() + "\n\n## Benchmark results (`python benchmarks/ui.py`)\n\n" + block + "\n"
    (docs / "ui.md").write_text(new, encoding="utf-8")
    print(f"wrote {docs / 'ui.md'} and {docs / 'dashboard.svg'}")


if __name__ == "__main__":
    main()
