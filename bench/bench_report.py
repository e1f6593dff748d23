"""What a bench run prints for bench/README.md: date, command, commit, load during each row, figures.

The machine is shared, so every row carries the 1-minute load average sampled while it ran (min-max,
once a second): a figure taken at load 4 is not comparable with one taken at load 0.3. At the end
the run prints the README's table rows ready to paste, so refreshing the README is mechanical.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shlex
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import api_bench

ROOT = Path(__file__).resolve().parent.parent


def loadavg() -> float:
    """The 1-minute load average (Linux)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def _commit() -> str:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    sha = git("rev-parse", "--short", "HEAD") or "?"
    return sha + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


@dataclass
class Row:
    num: str
    what: str
    target: str
    result: str
    met: bool
    load: str
    date: str


@dataclass
class Report:
    argv: list[str]
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    commit: str = field(default_factory=_commit)
    rows: list[Row] = field(default_factory=list)
    _samples: list[float] = field(default_factory=list)

    @property
    def command(self) -> str:
        return "bash bench/run.sh" + (" " + shlex.join(self.argv) if self.argv else "")

    @contextlib.contextmanager
    def sampling_load(self):
        """Sample the load average once a second while the block runs; `last_load` then says min-max."""
        self._samples = [loadavg()]
        stop = threading.Event()

        def sample():
            while not stop.wait(1.0):
                self._samples.append(loadavg())

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self._samples.append(loadavg())

    @property
    def last_load(self) -> str:
        low, high = min(self._samples), max(self._samples)
        return f"{low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}-{high:.1f}"

    def row(self, num: str, what: str, target: str, result: str, met: bool) -> None:
        """Record one README row measured in the last sampling_load block, and print it at once."""
        row = Row(num, what, target, result, met, self.last_load, dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"))
        self.rows.append(row)
        print(f"[bench] ROW {self._markdown(row)}", flush=True)

    def _markdown(self, row: Row) -> str:
        measured = f"{row.date} UTC, `{self.command}`, commit {self.commit}, load {row.load}"
        return (f"| {row.num} | {row.what} | {row.target} | **{row.result}** | {measured} | "
                f"{'met' if row.met else 'MISSED'} |")

    def markdown(self) -> str:
        head = [
            f"Run {self.started:%Y-%m-%d %H:%M} UTC, commit {self.commit}, command `{self.command}`;",
            "load = the 1-minute load average sampled once a second while the row ran (min-max).",
            "",
            "| # | what | target | result | measured (date, command, commit, load) | |",
            "|---|---|---|---|---|---|",
        ]
        return "\n".join(head + [self._markdown(row) for row in self.rows])

    def as_dict(self) -> dict:
        return {
            "started": self.started.isoformat(timespec="seconds"),
            "command": self.command,
            "commit": self.commit,
            "rows": [row.__dict__ for row in self.rows],
        }

    # --- the README's rows, from each measurement's figures ---------------------------------------

    def add_rows(self, name: str, data: dict) -> None:
        getattr(self, f"_rows_{name}")(data)

    def _rows_api(self, data: dict) -> None:  # issue 21 (bench/api_bench.py)
        api_bench.rows(self, data)

    def _rows_agent(self, data: dict) -> None:
        for clients, target in ((8, "ratio >= 0.5"), (32, "ratio >= 0.6, p99 <= 50 ms")):
            run = data[f"c{clients}"]
            use, noop = run["agent_use"], run["noop"]
            met = run["ratio"] >= (0.5 if clients == 8 else 0.6) and (clients == 8 or use["p99_ms"] <= 50)
            self.row("1", f"agent use vs authenticated no-op JSON (`/wallet/balance.json`), {clients} clients",
                     target, f"{run['ratio']:.2f} ({use['ok_rps']:.0f} vs {noop['ok_rps']:.0f} req/s; agent p50 "
                     f"{use['p50_ms']:.0f} ms, p99 {use['p99_ms']:.0f} ms)", met)
        check = data["integrity"]
        self.row("1", "integrity after the load", "check_ledger clean, balance = start - price x runs",
                 f"{check['successful_runs']:,} runs: {check['balance_before']} -> {check['balance_after']} "
                 f"(expected {check['expected_after']}); {check['check_ledger']}",
                 check["balance_ok"] and check["check_ledger"].startswith("Ledger OK"))

    def _rows_queued(self, data: dict) -> None:
        queued, inline = data["queued"]["with_4_slow_runs"], data["inline"]["with_4_slow_runs"]
        self.row("6", "light page (`/wallet/balance.json`, 8 clients) while 4 slow (2 s) `http` agent runs are "
                 "in flight: queued (4 `db_worker`s) vs inline", "queued >= 20x inline",
                 f"{data['queued_vs_inline']:.1f}x (queued {queued['ok_rps']:.0f} req/s, p99 "
                 f"{queued['p99_ms']:.0f} ms; inline {inline['ok_rps']:.0f} req/s, p99 {inline['p99_ms']:.0f} ms)",
                 data["queued_vs_inline"] >= 20)

    def _rows_ledger(self, data: dict) -> None:
        self.row("2", "`services.debit` on one hot wallet, 8 threads, vs the same UPDATE+INSERT in raw SQL",
                 "ratio >= 0.8", f"{data['ratio']:.2f} ({data['service_ops']:.0f} vs {data['raw_ops']:.0f} "
                 "debits/s)", data["ratio"] >= 0.8)
        if "ratio_same_writes" in data:
            self.row("2b", "`services.debit` as in row 2, vs the same four writes in raw SQL (balance UPDATE, "
                     "ledger INSERT, lot UPDATE, allocation INSERT)", "ratio >= 0.8",
                     f"{data['ratio_same_writes']:.2f} ({data['service_ops']:.0f} vs "
                     f"{data['same_writes_ops']:.0f} debits/s)", data["ratio_same_writes"] >= 0.8)

    def _rows_history(self, data: dict) -> None:
        page, filtered = data["first_page"], data["filtered_page"]
        self.row("3", "history page, 100k rows for one user (1 client)", "p50 <= 25 ms, queries constant",
                 f"p50 {page['p50_ms']:.1f} ms, p99 {page['p99_ms']:.1f} ms (filtered by type: p50 "
                 f"{filtered['p50_ms']:.1f} ms); {data['queries']} queries with 100k rows, "
                 f"{data['queries_10_rows']} with 10; no-op JSON p50 {data['noop_page']['p50_ms']:.1f} ms",
                 page["p50_ms"] <= 25 and data["queries"] == data["queries_10_rows"])

    def _rows_csv(self, data: dict) -> None:
        self.row("4", "CSV export of 100k rows", "<= 2.5 s, memory growth <= 100 MB",
                 f"{data['seconds']:.2f} s, peak RSS +{data['rss_growth_mb']:.1f} MB "
                 f"({data['bytes'] / 1e6:.1f} MB of CSV)",
                 data["seconds"] <= 2.5 and data["rss_growth_mb"] <= 100)

    def _rows_topup(self, data: dict) -> None:
        self.row("5", "top-up create+confirm through our endpoint vs bare stripe-python on the same localstripe",
                 "overhead ratio <= 1.5", f"{data['overhead_ratio']:.1f} ({data['ours_mean_ms']:.1f} vs "
                 f"{data['bare_mean_ms']:.1f} ms mean, {data['n']} interleaved pairs)", data["overhead_ratio"] <= 1.5)
