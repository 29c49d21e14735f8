"""``flask sipas ...`` commands (interfaces.md §3)."""

from __future__ import annotations

import csv
import os
import tempfile
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import func, select
from flask.cli import AppGroup

from app.extensions import db
from app.models import ServiceCenter
from app.services.demo import seed_demo
from app.services.export import iter_export_rows, vietnam_day_bounds
from app.services.instruments import ensure_published
from app.timeutil import now_utc
from surveys import available_instruments, load_instrument

sipas_cli = AppGroup("sipas", help="SIPAS platform commands.")


@sipas_cli.command("seed-demo")
@click.option("--responses", default=2000, show_default=True, type=click.IntRange(0, 5_000_000),
              help="Total number of synthetic demo responses to have.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds centres.")
def seed_demo_command(responses: int, if_empty: bool) -> None:
    """Demo province, centres, fields, accounts and synthetic responses (idempotent)."""
    base = os.environ.get("SIPAS_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    if if_empty and db.session.scalar(select(func.count()).select_from(ServiceCenter)):
        first = db.session.scalars(select(ServiceCenter).filter_by(active=True).order_by(ServiceCenter.id)).first()
        click.echo("The database already holds centres; no demo data added.")
        if first is not None:
            click.echo(f"Survey URL: {base}/s/{first.code}")
        click.echo(f"Login URL: {base}/auth/login")
        return
    report = seed_demo(db.session, responses, now_utc(), password=current_app.config.get("DEMO_PASSWORD"))
    db.session.commit()
    click.echo(f"Demo province ready: {len(report.centers)} centres, {report.responses_total} demo responses "
               f"({report.responses_added} added).")
    click.echo(f"Survey URL: {base}/s/{report.centers[1]}")
    click.echo(f"Provincial centre survey: {base}/s/{report.centers[0]}")
    click.echo(f"Login URL: {base}/auth/login")
    for email, password in report.passwords.items():
        click.echo(f"Account {email} password: {password}")
    if not report.passwords:
        click.echo("Demo accounts already exist: admin@demo.local, analyst@demo.local, staff@demo.local "
                   "(their passwords were printed when they were created, or set SIPAS_DEMO_PASSWORD).")


@sipas_cli.command("publish-instruments")
def publish_instruments_command() -> None:
    """Store a snapshot of every shipped instrument version (refuses an edited one)."""
    for key in available_instruments():
        version = ensure_published(db.session, load_instrument(key))
        click.echo(f"{key} {version.sha256}")
    db.session.commit()


@sipas_cli.command("export-responses")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="First day (Vietnam time), inclusive.")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), help="Last day (Vietnam time), inclusive.")
def export_responses_command(out: Path, since: datetime | None, until: datetime | None) -> None:
    """The responses CSV (UTF-8 with BOM), one row per response."""
    if since and until and since > until:
        raise click.BadParameter("--since is after --until", param_hint="--since")
    start, end = vietnam_day_bounds(since.date() if since else None, until.date() if until else None)
    out = out.resolve()
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8-sig", newline="", dir=out.parent,
                                         prefix=f".{out.name}.", delete=False)
    count = -1
    try:
        with handle:
            writer = csv.writer(handle)
            for count, row in enumerate(iter_export_rows(db.session, start, end)):
                writer.writerow(row)
        os.replace(handle.name, out)
    except BaseException:
        os.unlink(handle.name)
        raise
    click.echo(f"Wrote {count} responses to {out}")
