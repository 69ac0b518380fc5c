"""Pane output → supervisor latency: tmux control mode (%output) vs pipe-pane + watchfiles (what the
engine uses), measured in the same run on the same pane.

    python benchmarks/output.py [--samples 100]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, scratch, summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=100)
    add_keep(ap)
    args = ap.parse_args()
    with scratch(args.keep) as root:
        sock = "outbench"
        log = root / "pane.log"
        T = ["tmux", "-L", sock, "-f", "/dev/null"]
        try:
            subprocess.run([*T, "new-session", "-d", "-s", "o", "-x", "200", "-y", "50", "cat"], check=True)
            subprocess.run([*T, "pipe-pane", "-t", "o", "-o", f"cat >> {log}"], check=True)
            cm = subprocess.Popen([*T, "-C", "attach", "-t", "o"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
            seen_cm: dict[str, float] = {}
            seen_wf: dict[str, float] = {}
            stop = threading.Event()

            def read_cm() -> None:
                assert cm.stdout is not None
                for line in cm.stdout:
                    if line.startswith("%output") and "mark-" in line:
                        t = time.perf_counter()
                        tok = line[line.index("mark-"):].split("\\")[0].split()[0]
                        seen_cm.setdefault(tok, t)

            def read_wf() -> None:
                from watchfiles import watch

                off = 0
                for _ in watch(root, debounce=50, step=10, stop_event=stop, rust_timeout=200,
                               watch_filter=lambda c, p: p.endswith("pane.log")):
                    t = time.perf_counter()
                    with open(log, "rb") as f:
                        f.seek(off)
                        data = f.read()
                    off += len(data)
                    for tok in data.decode(errors="replace").split():
                        if tok.startswith("mark-"):
                            seen_wf.setdefault(tok, t)

            threading.Thread(target=read_cm, daemon=True).start()
            threading.Thread(target=read_wf, daemon=True).start()
            time.sleep(0.5)
            lat_cm: list[float] = []
            lat_wf: list[float] = []
            for i in range(args.samples):
                tok = f"mark-{i}"
                t0 = time.perf_counter()
                subprocess.run([*T, "send-keys", "-t", "o", "-l", tok + " "], check=True)
                subprocess.run([*T, "send-keys", "-t", "o", "Enter"], check=True)
                end = time.monotonic() + 5
                while (tok not in seen_cm or tok not in seen_wf) and time.monotonic() < end:
                    time.sleep(0.0005)
                if tok in seen_cm and tok in seen_wf:
                    lat_cm.append(seen_cm[tok] - t0)
                    lat_wf.append(seen_wf[tok] - t0)
                time.sleep(0.01)
            stop.set()
            cm.terminate()
            print(f"control mode %output : {summary(lat_cm)}")
            print(f"pipe-pane + watchfiles: {summary(lat_wf)}")
            print(f"(both include two `tmux send-keys` subprocesses; ratio of p50s {sorted(lat_wf)[len(lat_wf)//2] / sorted(lat_cm)[len(lat_cm)//2]:.1f}x)")
        finally:
            subprocess.run([*T, "kill-server"], capture_output=True)
            os.environ.pop("TMUX_TMPDIR", None)


if __name__ == "__main__":
    main()
