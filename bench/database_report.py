"""Time the full report on the database path: the web app's ``GROUP BY`` and the same estimation.

Run from the repository root::

    .venv/bin/python bench/database_report.py --rows 1000000                      # PostgreSQL
    .venv/bin/python bench/database_report.py --rows 1000000 --engine sqlite
    .venv/bin/python bench/database_report.py --rows 1000000 --skip-load          # time again

The data are ``bench/generate_responses.py``'s (the same file as ``run_report_bench.py``, made on
first use in ``bench/out/``). They are loaded into a database of their own (PostgreSQL
``sipas_bench_report_<rows>`` on 127.0.0.1:5432, or ``bench/out/report-<rows>.sqlite``) migrated
with the app's migrations: units, centres and fields through the models, then the responses,
their answers in long format and their flags with ``COPY`` (PostgreSQL, with the secondary
indexes and the foreign keys of ``responses`` and ``answers`` dropped meanwhile and rebuilt
after, as bulk loads do) or ``executemany`` (SQLite). Loading is timed and printed but is not
part of the report.

The report is then timed in a fresh process, as the analyst's page or ``/api/v1/indices`` computes
it: ``app.services.datasets.index_table`` with every index of ``sipas-dvhcc-2023@1`` by centre ×
quarter, strata centre × quarter, post-stratified to the generated centre × field totals,
Korn–Graubard intervals. Its two steps are printed apart: the two ``GROUP BY`` queries and their
roll-up (``sufficient_tables``), and the estimation (``bench/estimation.py``'s
``time_estimation``, as the CSV benchmark reports it). Peak memory is the timing process's
``getrusage`` maximum resident set size; on PostgreSQL the server's own processes are not in it.

If ``bench/out/report-<rows>.csv`` from ``run_report_bench.py`` exists, the results are compared
with it: both paths must give the same estimates and standard errors.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(ROOT))

from bench.estimation import peak_rss_mb, time_estimation  # noqa: E402
from bench.run_report_bench import ensure_data, machine  # noqa: E402

INSTRUMENT = "sipas-dvhcc-2023@1"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# Columns of the export that are stored on the response, not as answers.
RESPONSE_FIELDS = ("response_id", "submitted_at", "instrument", "center_code", "province_code", "district_code",
                   "commune_code", "level", "field_code", "channel", "locale", "source", "flags")
TEXT_QUESTIONS = ("YK",)
MULTI_QUESTIONS = ("UT",)
CHUNK = 100_000


def pg_database(rows: int) -> str:
    return f"sipas_bench_report_{rows}"


def database_url(engine: str, rows: int) -> str:
    if engine == "postgresql":
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_database(rows)}"
    return f"sqlite:///{OUT / f'report-{rows}.sqlite'}"


def recreate_database(engine: str, rows: int) -> None:
    if engine == "sqlite":
        (OUT / f"report-{rows}.sqlite").unlink(missing_ok=True)
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{pg_database(rows)}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{pg_database(rows)}"'))
    admin.dispose()


def make_app(url: str):
    from app import create_app

    return create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})


# Loading --------------------------------------------------------------------------------------

def _places(session, responses: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Units, centres and fields named in the file; their ids by code."""
    from app.models import AdministrativeUnit, Field, ServiceCenter

    seen = pd.read_csv(responses, usecols=["center_code", "province_code", "commune_code", "level", "field_code"],
                       dtype=str, keep_default_na=False).drop_duplicates()
    start = date(2025, 7, 1)
    provinces = {}
    for code in sorted(seen["province_code"].unique()):
        provinces[code] = AdministrativeUnit(code=code, name=f"Tỉnh {code}", level="province", valid_from=start)
    session.add_all(provinces.values())
    session.flush()
    communes = {}
    for code, province in sorted(set(zip(seen["commune_code"], seen["province_code"]))):
        if code:
            communes[code] = AdministrativeUnit(code=code, name=f"Xã {code}", level="commune", valid_from=start,
                                                parent_id=provinces[province].id)
    session.add_all(communes.values())
    session.flush()
    centers = {}
    for center, province, commune, level in sorted(set(zip(seen["center_code"], seen["province_code"],
                                                           seen["commune_code"], seen["level"]))):
        unit = communes[commune] if commune else provinces[province]
        centers[center] = ServiceCenter(code=center, name_vi=f"Trung tâm {center}", name_en=f"Centre {center}",
                                        unit_id=unit.id, level=level, valid_from=start)
    fields = {code: Field(code=code, name_vi=code, name_en=code) for code in sorted(seen["field_code"].unique()) if code}
    session.add_all([*centers.values(), *fields.values()])
    session.flush()
    return {c: s.id for c, s in centers.items()}, {c: f.id for c, f in fields.items()}


def _frames(chunk: pd.DataFrame, first_id: int, centers, fields, version_id: int, engine: str):
    """The responses, answers and flags rows of one chunk of the export."""
    ids = np.arange(first_id, first_id + len(chunk), dtype=np.int64)
    # As SQLAlchemy stores an aware UTC datetime: naive text on SQLite, with its offset on PostgreSQL.
    pattern = "%Y-%m-%d %H:%M:%S.%f" + ("+00:00" if engine == "postgresql" else "")
    submitted = pd.to_datetime(chunk["submitted_at"], utc=True).dt.strftime(pattern)
    responses = pd.DataFrame({
        "id": ids,
        "uid": chunk["response_id"].to_numpy(),
        "center_id": chunk["center_code"].map(centers).to_numpy(),
        "instrument_version_id": version_id,
        "field_id": chunk["field_code"].map(fields).astype("Int64").to_numpy(),
        "channel": chunk["channel"].replace("", None).to_numpy(),
        "locale": chunk["locale"].to_numpy(),
        "source": chunk["source"].to_numpy(),
        "submitted_at": submitted.to_numpy(),
    })
    questions = [c for c in chunk.columns if c not in RESPONSE_FIELDS]
    long = chunk[questions].set_axis(ids).stack()
    long = long[long != ""]
    answers = pd.DataFrame({
        "response_id": long.index.get_level_values(0),
        "question_code": long.index.get_level_values(1),
        "value": long.to_numpy(),
    })
    multi = answers["question_code"].isin(MULTI_QUESTIONS)
    split = answers[multi].assign(value=answers.loc[multi, "value"].str.split(";")).explode("value")
    answers = pd.concat([answers[~multi], split], ignore_index=True)
    text = answers["question_code"].isin(TEXT_QUESTIONS)
    answers["text"] = answers["value"].where(text, None)
    answers["value"] = answers["value"].where(~text, None)
    flagged = chunk["flags"].set_axis(ids)
    flagged = flagged[flagged != ""].str.split(";").explode()
    flags = pd.DataFrame({"response_id": flagged.index, "code": flagged.to_numpy(), "reason": "generated"})
    return responses, answers, flags


def _copy_column(values: pd.Series) -> pd.Series:
    """One column in COPY's text format: backslash escapes, ``\\N`` for NULL."""
    missing = values.isna()
    text = values.astype(str)
    if not pd.api.types.is_numeric_dtype(values):
        for character, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            text = text.str.replace(character, escaped, regex=False)
    return text.mask(missing, "\\N")


def _copy(connection, table: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    columns = [_copy_column(frame[c]) for c in frame.columns]
    lines = columns[0].str.cat(columns[1:], sep="\t") if len(columns) > 1 else columns[0]
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN") as copy:
        copy.write("\n".join(lines) + "\n")


def _insert(connection, table: str, frame: pd.DataFrame) -> None:
    columns = ", ".join(frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
    connection.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _drop_indexes(connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the tables' secondary indexes, unique and foreign-key constraints (not the primary
    keys), as bulk loads do; returns the statements that put them back exactly as migrated."""
    restore, drop = [], []
    for table in tables:
        constraints = connection.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('f', 'u')",
            (table,),
        ).fetchall()
        for name, definition in constraints:
            drop.append(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        indexes = connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            (table, table),
        ).fetchall()
        for name, definition in indexes:
            drop.append(f'DROP INDEX "{name}"')
            restore.insert(0, definition)
    for statement in drop:
        connection.execute(statement)
    connection.commit()
    return restore


def load(engine: str, rows: int, responses: Path) -> dict:
    """Migrate a new database and load the file into it; returns counts and seconds."""
    from flask_migrate import upgrade

    from app.extensions import db
    from app.services.instruments import ensure_published
    from surveys import load_instrument

    recreate_database(engine, rows)
    app = make_app(database_url(engine, rows))
    started = time.perf_counter()
    with app.app_context():
        upgrade()
        centers, fields = _places(db.session, responses)
        version_id = ensure_published(db.session, load_instrument(INSTRUMENT)).id
        db.session.commit()
        raw = db.engine.raw_connection()
        driver = raw.driver_connection
        if engine == "sqlite":
            driver.execute("PRAGMA synchronous = OFF")
        counts = {"responses": 0, "answers": 0, "flags": 0}
        restore = _drop_indexes(driver, ("responses", "answers")) if engine == "postgresql" else []

        def store(frames) -> None:
            for (table, name), frame in zip((("responses", "responses"), ("answers", "answers"), ("response_flags", "flags")), frames):
                (_copy if engine == "postgresql" else _insert)(driver, table, frame)
                counts[name] += len(frame)
            driver.commit()
            print(f"  loaded {counts['responses']:,} responses", end="\r", flush=True)

        reader = pd.read_csv(responses, dtype=str, keep_default_na=False, chunksize=CHUNK)
        first_id = 1
        with ThreadPoolExecutor(1) as pool:  # the next chunk is prepared while the database stores this one
            storing = None
            for chunk in reader:
                frames = _frames(chunk, first_id, centers, fields, version_id, engine)
                if storing is not None:
                    storing.result()
                storing = pool.submit(store, frames)
                first_id += len(chunk)
            if storing is not None:
                storing.result()
        if engine == "postgresql":
            print(f"\n  rebuilding {len(restore)} indexes and constraints", end="", flush=True)
            for statement in restore:
                driver.execute(statement)
            driver.commit()
            driver.execute("SELECT setval(pg_get_serial_sequence('responses', 'id'), %s)", (first_id,))
            driver.commit()
            driver.autocommit = True
            driver.execute("VACUUM ANALYZE")
        else:
            driver.execute("ANALYZE")
            driver.commit()
        raw.close()
    counts["seconds"] = time.perf_counter() - started
    print()
    return counts


def tally(engine: str, rows: int) -> dict:
    """``flask sipas aggregate``, the nightly job: count the finished months and quarters once."""
    from flask_migrate import upgrade

    app = make_app(database_url(engine, rows))
    with app.app_context():
        upgrade()  # a database loaded by an earlier version of this script
    started = time.perf_counter()
    result = app.test_cli_runner().invoke(args=["sipas", "aggregate"])
    if result.exit_code != 0:
        raise RuntimeError(f"flask sipas aggregate failed: {result.output} {result.exception!r}")
    return {"seconds": time.perf_counter() - started, "output": result.output.strip().splitlines()[-1]}


def clear_tallies(engine: str, rows: int) -> None:
    """Forget the month tallies, so that the report reads every answer."""
    from sqlalchemy import delete

    from app.extensions import db
    from app.models import MonthTally, TalliedMonth

    with make_app(database_url(engine, rows)).app_context():
        db.session.execute(delete(MonthTally))
        db.session.execute(delete(TalliedMonth))
        db.session.commit()


# Timing ---------------------------------------------------------------------------------------

def timed_report(engine: str, rows: int, totals_path: Path, out: Path) -> dict:
    """The report through the app's database path, in this process (run it in a fresh one)."""
    from analysis import PostStratification
    from analysis.io import read_totals
    from app.extensions import db
    from app.services.datasets import IndexRequest, Selection, sufficient_tables
    from surveys import load_instrument

    started = time.perf_counter()
    app = make_app(database_url(engine, rows))
    totals = read_totals(totals_path)
    request = IndexRequest(by=("center_code", "period"), strata=("center_code", "period"),
                           weighting=PostStratification(totals))
    keys = tuple(dict.fromkeys(request.by + request.strata + tuple(totals.keys)))
    with app.app_context():
        setup = time.perf_counter()
        respondents, answers = sufficient_tables(db.session, Selection(INSTRUMENT, period="quarter"), keys)
        grouped = time.perf_counter()
        timing = time_estimation(
            respondents, answers, keys=keys, index_definitions=load_instrument(INSTRUMENT).index_definitions,
            strata=request.strata, weighting=request.weighting, by=request.by,
        )
        timing.results.to_csv(out, index=False)
    return {
        "engine": engine,
        "rows": rows,
        "setup_s": setup - started,
        "group_by_s": grouped - setup,
        "design_s": timing.design_seconds,
        "estimate_s": timing.estimate_seconds,
        "report_s": grouped - setup + timing.seconds,
        "groups": timing.groups,
        "answer_rows": timing.answer_rows,
        "result_rows": timing.result_rows,
        "peak_rss_mb": peak_rss_mb(),
    }


def compare(database_csv: Path, csv_path_csv: Path) -> dict:
    """Largest differences between the database path's results and the CSV path's."""
    keys = ["index", "center_code", "period"]
    ours = pd.read_csv(database_csv, dtype={"center_code": str, "period": str}, keep_default_na=False)
    theirs = pd.read_csv(csv_path_csv, dtype={"center_code": str, "period": str}, keep_default_na=False, comment="#")
    merged = ours.merge(theirs, on=keys, suffixes=("", "_csv"), validate="one_to_one")
    numeric = lambda s: pd.to_numeric(s, errors="coerce")  # noqa: E731
    estimate = (numeric(merged["estimate"]) - numeric(merged["estimate_csv"])).abs().max()
    se = ((numeric(merged["se"]) - numeric(merged["se_csv"])).abs() / numeric(merged["se_csv"]).abs()).max()
    return {"rows": len(ours), "rows_csv_path": len(theirs), "matched": len(merged),
            "max_abs_estimate_diff": float(estimate), "max_rel_se_diff": float(se)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--centers", type=int, default=400)
    parser.add_argument("--skip-load", action="store_true", help="time the report on the database already loaded")
    parser.add_argument("--no-tallies", action="store_true", help="forget the month tallies instead of running flask sipas aggregate, so that the report reads every answer")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "ROWS", "TOTALS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        engine, rows, totals = args.child
        out = OUT / f"report-{rows}-{engine}.csv"
        print("RESULT " + json.dumps(timed_report(engine, int(rows), Path(totals), out)))
        return 0

    OUT.mkdir(exist_ok=True)
    responses, totals = ensure_data(args.rows, args.seed, args.centers)
    info = {"machine": machine()}
    if not args.skip_load:
        print(f"loading {responses.name} into {args.engine} ...")
        info["load"] = load(args.engine, args.rows, responses)
        loaded = info["load"]
        print(f"loaded {loaded['responses']:,} responses, {loaded['answers']:,} answers, {loaded['flags']:,} flags "
              f"in {loaded['seconds']:.1f} s (not part of the report)")
    if args.no_tallies:
        clear_tallies(args.engine, args.rows)
    else:
        info["aggregate"] = tally(args.engine, args.rows)
        print(f"flask sipas aggregate (the nightly job, not part of the report): {info['aggregate']['seconds']:.1f} s, "
              f"{info['aggregate']['output']}")
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, __file__, "--child", args.engine, str(args.rows), str(totals)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        return completed.returncode
    report = json.loads(next(l for l in completed.stdout.splitlines() if l.startswith("RESULT "))[7:])
    report["process_s"] = time.perf_counter() - started
    info["report"] = report
    print(f"database path ({args.engine}), {args.rows:,} responses: report {report['report_s']:.2f} s "
          f"= GROUP BY and roll-up {report['group_by_s']:.2f} s + design {report['design_s']:.2f} s "
          f"+ indices {report['estimate_s']:.2f} s; {report['groups']:,} groups, {report['answer_rows']:,} answer rows, "
          f"{report['result_rows']:,} result rows; peak memory {report['peak_rss_mb']:.0f} MB "
          f"(process {report['process_s']:.2f} s with start-up and imports)")
    csv_path = OUT / f"report-{args.rows}.csv"
    if csv_path.exists():
        info["agreement"] = compare(OUT / f"report-{args.rows}-{args.engine}.csv", csv_path)
        a = info["agreement"]
        print(f"against the CSV path: {a['matched']:,} of {a['rows']:,} rows matched ({a['rows_csv_path']:,} there); "
              f"largest estimate difference {a['max_abs_estimate_diff']:.1e}, largest relative SE difference "
              f"{a['max_rel_se_diff']:.1e}")
    m = info["machine"]
    print(f"machine: {m}")
    (OUT / f"database-report-{args.engine}-{args.rows}.json").write_text(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
