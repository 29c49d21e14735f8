"""Time the full report on the responses CSV path, and against R's survey package.

Run from the repository root::

    .venv/bin/python bench/run_report_bench.py --rows 1000000
    .venv/bin/python bench/run_report_bench.py --rows 10000000
    .venv/bin/python bench/run_report_bench.py --rows 200000 --compare-r

The report is what ``python -m analysis indices`` computes for an analyst: every index of
``sipas-dvhcc-2023@1`` (SIPAS, the five elements, the sixteen items) for the whole sample and by
centre × quarter, post-stratified to centre × field totals, with strata centre × quarter,
Korn–Graubard intervals, written to a CSV file. The data are
``bench/generate_responses.py``'s (generated on first use into the git-ignored ``bench/out/``,
with the matching totals file; a fixed seed).

Each run happens in a fresh process, so that its peak memory is its own: the command line's
``main()`` is timed inside that process (wall time), and the process's peak resident set size is
``resource.getrusage(RUSAGE_SELF).ru_maxrss``; the worker processes that parse blocks report
theirs through ``RUSAGE_CHILDREN`` (the largest one), so the whole job's peak is at most
parent + workers × largest worker. ``tracemalloc`` would miss numpy's and pandas' allocations
outside Python's allocator, and the process's RSS is what the machine has to provide.

``--compare-r`` also runs ``bench/report_survey.R`` (the same report with ``svyby``; R's
interval is the Wald one) on the same file, prints both wall times and their ratio, and checks
that the estimates and standard errors agree. R re-estimates every domain over all rows
(about 1.7 s per domain, so most of an hour per index on 200,000 rows): by default it runs one
index (``HL``) and the whole report's time is extrapolated from it (reading and design once,
then 22 times the per-index time), which the output says; ``--r-indices all`` runs them all. ``--breakdown`` times the scan and the estimation
separately (a second run), the latter with ``bench/estimation.py``'s ``time_estimation``, which
the database benchmark reuses.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ALL_INDICES = 22  # SIPAS, 5 elements, 16 items of sipas-dvhcc-2023@1
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"


def machine() -> dict:
    """nproc, CPU model, RAM and load: the figures mean little without them."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": memory,
        "python": platform.python_version(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def ensure_data(rows: int, seed: int, centers: int) -> tuple[Path, Path]:
    sys.path.insert(0, str(HERE))
    from generate_responses import default_paths, generate

    responses, totals = default_paths(rows, seed)
    if not (responses.exists() and totals.exists()):
        started = time.perf_counter()
        generate(rows, responses, totals, centers=centers, seed=seed)
        print(f"generated {responses.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return responses, totals


def report_argv(responses: Path, totals: Path, out: Path) -> list[str]:
    return [
        "indices", str(responses), "--out", str(out),
        "--weighting", "poststrat", "--totals", str(totals),
        "--strata", "center_code,period", "--by", "center_code,period", "--period", "quarter",
    ]


# ---------------------------------------------------------------------- in the child process


def child(mode: str, responses: str, totals: str, out: str, workers: str) -> None:
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    import analysis.stream

    if workers != "auto":
        original = analysis.stream.scan_responses

        def scan(*args, **kwargs):
            kwargs.setdefault("workers", int(workers))
            return original(*args, **kwargs)

        import analysis.cli

        analysis.cli.scan_responses = scan
    imported = time.perf_counter()
    result: dict = {"imports_s": imported - started}
    if mode == "report":
        from analysis.cli import main

        status = main(report_argv(Path(responses), Path(totals), Path(out)))
        if status != 0:
            raise SystemExit(status)
        result["report_s"] = time.perf_counter() - imported
    else:
        sys.path.insert(0, str(HERE))
        from estimation import time_estimation

        from analysis import PostStratification, scan_responses
        from analysis.io import read_totals
        from surveys import load_instrument

        table = read_totals(totals)
        keys = ("center_code", "period", "field_code")
        scan_started = time.perf_counter()
        scanned = scan_responses(
            responses, load_instrument=load_instrument, keys=keys, period="quarter",
            workers=None if workers == "auto" else int(workers),
        )
        result["scan_s"] = time.perf_counter() - scan_started
        instrument = next(iter(scanned.instruments.values()))
        timing = time_estimation(
            scanned.statistics.respondents, scanned.statistics.answers, keys=keys,
            index_definitions=instrument.index_definitions, weighting=PostStratification(table),
        )
        result.update(design_s=timing.design_seconds, estimate_s=timing.estimate_seconds,
                      groups=timing.groups, answer_rows=timing.answer_rows)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["worker_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def run_child(mode: str, responses: Path, totals: Path, out: Path, workers: str) -> dict:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(responses), str(totals), str(out), workers],
        capture_output=True, text=True, cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"the report failed:\n{completed.stderr}")
    line = next(l for l in completed.stdout.splitlines() if l.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["process_s"] = wall
    return result


# ---------------------------------------------------------------------- R


def run_r(responses: Path, totals: Path, out: Path, indices: list[str]) -> dict:
    started = time.perf_counter()
    completed = subprocess.run(
        ["Rscript", str(HERE / "report_survey.R"), str(responses), str(totals), str(out), *indices],
        capture_output=True, text=True, cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"R failed:\n{completed.stderr}")
    return {"process_s": wall, "output": completed.stdout.strip()}


def compare(python_csv: Path, r_csv: Path) -> dict:
    import numpy as np
    import pandas as pd

    mine = pd.read_csv(python_csv, encoding="utf-8-sig", dtype={"center_code": str, "period": str}, keep_default_na=False)
    theirs = pd.read_csv(r_csv, dtype={"center_code": str, "period": str}, keep_default_na=False)
    merged = mine.merge(theirs, on=["index", "center_code", "period"], suffixes=("", "_r"))
    numeric = {c: pd.to_numeric(merged[c], errors="coerce") for c in
               ("estimate", "estimate_r", "se", "se_r", "deff", "deff_r")}
    positive = numeric["se_r"] > 1e-12
    rel_se = (numeric["se"] - numeric["se_r"]).abs()[positive] / numeric["se_r"][positive]
    rel_deff = ((numeric["deff"] - numeric["deff_r"]).abs() / numeric["deff_r"].abs())[positive]
    return {
        "rows_python": len(mine),
        "rows_r": len(theirs),
        "rows_compared": len(merged),
        "max_abs_estimate_diff": float(np.nanmax((numeric["estimate"] - numeric["estimate_r"]).abs())),
        "max_rel_se_diff": float(np.nanmax(rel_se)) if len(rel_se) else float("nan"),
        "max_rel_deff_diff": float(np.nanmax(rel_deff)) if len(rel_deff) else float("nan"),
    }


# ---------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--centers", type=int, default=400)
    parser.add_argument("--workers", default="auto", help="block-parsing processes (default: one per CPU)")
    parser.add_argument("--compare-r", action="store_true", help="also run bench/report_survey.R")
    parser.add_argument(
        "--r-indices", default="HL",
        help="question codes R estimates, comma-separated, or 'all' (default HL: R needs most of an "
        "hour per index on 200,000 rows; the whole report is extrapolated from it)",
    )
    parser.add_argument("--breakdown", action="store_true", help="also time scan and estimation apart")
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    responses, totals = ensure_data(args.rows, args.seed, args.centers)
    size_mb = responses.stat().st_size / 1e6
    info = {"rows": args.rows, "file_mb": round(size_mb), "machine_before": machine()}
    out = OUT / f"report-{args.rows}.csv"
    print(f"{args.rows} responses ({size_mb:.0f} MB), {info['machine_before']['nproc']} CPUs "
          f"({info['machine_before']['cpu']}), {info['machine_before']['ram_gb']} GB RAM, "
          f"load {info['machine_before']['load_average']}", flush=True)
    report = run_child("report", responses, totals, out, args.workers)
    info["python"] = report
    workers = os.cpu_count() if args.workers == "auto" else int(args.workers)
    print(
        f"python report: {report['report_s']:.1f} s (process {report['process_s']:.1f} s with start-up "
        f"and imports); peak RSS {report['peak_rss_mb']:.0f} MB main process, "
        f"{report['worker_peak_rss_mb']:.0f} MB largest worker "
        f"(whole job at most {report['peak_rss_mb'] + workers * report['worker_peak_rss_mb']:.0f} MB)",
        flush=True,
    )
    if args.breakdown:
        parts = run_child("breakdown", responses, totals, out, args.workers)
        info["breakdown"] = parts
        print(f"  scan {parts['scan_s']:.1f} s, design {parts['design_s']:.2f} s, "
              f"indices {parts['estimate_s']:.2f} s ({parts['groups']} groups)", flush=True)
    if args.compare_r:
        r_out = OUT / f"report-{args.rows}-r.csv"
        indices = [] if args.r_indices == "all" else [c for c in args.r_indices.split(",") if c]
        r = run_r(responses, totals, r_out, indices)
        info["r"] = r
        timing = dict(part.split(" ", 1) for part in r["output"].splitlines()[-1].split(", "))
        read_s = float(timing["read"].rstrip(" s"))
        estimate_s = float(timing["estimate"].rstrip(" s"))
        done = int(timing["indices"])
        full = r["process_s"] + (ALL_INDICES - done) * estimate_s / done
        info["r_full_report_s"] = full
        info["ratio_measured"] = r["process_s"] / report["process_s"]
        info["ratio"] = full / report["process_s"]
        print(f"R survey: {r['process_s']:.0f} s for {done} of {ALL_INDICES} indices "
              f"(reading and design {read_s:.0f} s, {estimate_s / done:.0f} s per index)", flush=True)
        if done < ALL_INDICES:
            print(f"R survey, whole report (extrapolated: {ALL_INDICES} indices x "
                  f"{estimate_s / done:.0f} s + the rest): {full:.0f} s", flush=True)
        print(f"speed ratio R / Python (whole processes): {info['ratio']:.0f}x"
              + (f" (measured lower bound, R doing {done} of {ALL_INDICES} indices: "
                 f"{info['ratio_measured']:.0f}x)" if done < ALL_INDICES else ""), flush=True)
        info["agreement"] = compare(out, r_out)
        print("agreement with R on the indices R computed: " + json.dumps(info["agreement"]), flush=True)
    info["machine_after"] = machine()
    (OUT / f"report-bench-{args.rows}.json").write_text(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
