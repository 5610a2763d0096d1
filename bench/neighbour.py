"""Short summaries beside a busy neighbour: the latency a crowded node costs, per thread setting, in one run.

    python -m bench.neighbour                 # tiny profile, 3 settings x 3 neighbours (a few minutes)
    python -m bench.neighbour --rounds 2 --profile tiny

For each server setting the same short summaries are timed quiet, beside one process spinning on one core,
and beside one spinning process per core, in alternating rounds so that a change in the machine's own load
hits every side. The settings compared:

- `default`: the service as shipped (threads from the CPU quota, OpenMP threads wait passively);
- `spinning`: the same with `OMP_WAIT_POLICY=ACTIVE`, the OpenMP default before the service set it;
- `threads=1`: one inference thread.

The table gives medians and the ratio of each busy median to the quiet one of the same setting. With one
spinner per core a server can only hope for its fair share of the machine, so about 2x is the floor there.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.perf import cpu_model, load_average
from devkit.launcher import ServerProcess
from summarizer_client import SummarizerClient

SPINNER = "import time\nend = time.monotonic() + 900\nwhile time.monotonic() < end:\n    pass\n"
SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_dba0962fc812cd96.txt"
SETTINGS: dict[str, tuple[list[str], dict[str, str]]] = {
    "default": ([], {}),
    "spinning": ([], {"OMP_WAIT_POLICY": "ACTIVE"}),
    "threads=1": (["--threads", "1"], {}),
}


def _articles() -> list[str]:
    """Distinct short articles, so that the result cache never answers."""
    base = SEED.read_text(encoding="utf-8")
    return [f"Report {i} from the newsroom. " + base[:400].rsplit(" ", 1)[0] + "." for i in range(10_000)]


class _Timer:
    def __init__(self, client: SummarizerClient) -> None:
        self.client = client
        self.articles = iter(_articles())

    def times(self, count: int) -> list[float]:
        out = []
        for _ in range(count):
            started = time.perf_counter()
            self.client.summarize(next(self.articles), ["en"], source_language="en", length="short")
            out.append(time.perf_counter() - started)
        return out


def _spinners(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", SPINNER]) for _ in range(count)]


def _stop(spinners: list[subprocess.Popen[bytes]]) -> None:
    for spinner in spinners:
        spinner.kill()
        spinner.wait()


def measure(profile: str, setting: str, rounds: int, per_round: int) -> dict[str, float]:
    args, env = SETTINGS[setting]
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-neighbour-") as tmp:
        server = ServerProcess(["--profile", profile, *args], Path(tmp) / "server.log", env=env)
        with server:
            server.start(timeout_s=900)
            with SummarizerClient(server.target, timeout=600) as client:
                timer = _Timer(client)
                timer.times(2)  # warm-up
                samples: dict[str, list[float]] = {"quiet": [], "one spinner": [], "spinner per core": []}
                for _ in range(rounds):
                    samples["quiet"] += timer.times(per_round)
                    for name, count in (("one spinner", 1), ("spinner per core", cores)):
                        spinners = _spinners(count)
                        try:
                            time.sleep(0.5)
                            samples[name] += timer.times(per_round)
                        finally:
                            _stop(spinners)
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.neighbour", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-round", type=int, default=2)
    parser.add_argument("--setting", action="append", choices=sorted(SETTINGS), help="default: all")
    args = parser.parse_args(argv)

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; load before: {load_average()}")
    print(f"profile {args.profile}, {args.rounds} rounds x {args.per_round} summaries per side; medians")
    header = "| setting | quiet s | one spinner s | ratio | spinner per core s | ratio |"
    print(header)
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for setting in args.setting or list(SETTINGS):
        m = measure(args.profile, setting, args.rounds, args.per_round)
        quiet = m["quiet"]
        print(
            f"| {setting} | {quiet:.2f} | {m['one spinner']:.2f} | x{m['one spinner'] / quiet:.2f} "
            f"| {m['spinner per core']:.2f} | x{m['spinner per core'] / quiet:.2f} |",
            flush=True,
        )
    print(f"load after: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
