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
from app.services import audit
from app.models import ServiceCenter
from app.services.demo import seed_demo
from app.services.export import iter_export_rows
from app.services.instruments import ensure_published
from app.timeutil import now_utc, today_in_vietnam, vietnam_day_bounds
from surveys import available_instruments, load_instrument

sipas_cli = AppGroup("sipas", help="SIPAS platform commands.")


@sipas_cli.command("seed-demo")
@click.option("--responses", default=2000, show_default=True, type=click.IntRange(0, 5_000_000),
              help="Total number of synthetic demo responses to have.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds centres.")
def seed_demo_command(responses: int, if_empty: bool) -> None:
    """Demo province, centres, fields, accounts and synthetic responses (idempotent)."""
    base = current_app.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000"
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
    audit.record(db.session, None, "download", f"responses csv {out.name}", actor="command line", rows=count,
                 since=since.date() if since else None, until=until.date() if until else None)
    db.session.commit()
    click.echo(f"Wrote {count} responses to {out}")


def _base_url() -> str:
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        base = "http://127.0.0.1:5000"
        click.echo(f"Note: SIPAS_BASE_URL is not set; links use {base}. Set it to the public address before printing.", err=True)
    return base


@sipas_cli.command("poster")
@click.argument("center_code")
@click.option("--counter", "counter_code", help="Code of one counter (quầy) of the centre.")
@click.option("--size", type=click.Choice(["a4", "a5", "a6"]), default="a4", show_default=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path))
def poster_command(center_code: str, counter_code: str | None, size: str, out: Path) -> None:
    """The printable QR poster of a centre (A4, A5) or counter card (A6) as PDF."""
    from app.posters import poster_pdf
    from app.services.posters import poster_page

    center = db.session.scalars(select(ServiceCenter).filter_by(code=center_code)).one_or_none()
    if center is None:
        raise click.BadParameter(f"no centre with code {center_code!r}", param_hint="CENTER_CODE")
    counter = None
    if counter_code:
        counter = next((c for c in center.counters if c.code == counter_code), None)
        if counter is None:
            raise click.BadParameter(f"centre {center_code} has no counter {counter_code!r}", param_hint="--counter")
    page = poster_page(db.session, current_app.config, _base_url(), center, counter, None)
    _write_atomically(out, poster_pdf([page], size))
    db.session.commit()
    click.echo(f"Wrote {out} ({size.upper()}), QR code: {page.url}")


@sipas_cli.command("dossier-link")
@click.argument("dossier_code")
@click.option("--center", "center_code", required=True, help="Centre code.")
@click.option("--field", "field_code", required=True, help="Field of procedures (lĩnh vực) code.")
def dossier_link_command(dossier_code: str, center_code: str, field_code: str) -> None:
    """Print a one-time /r/<token> survey URL bound to one dossier (mã hồ sơ)."""
    from app.models import Field
    from app.services.links import LinkError, mint_dossier_link

    center = db.session.scalars(select(ServiceCenter).filter_by(code=center_code, active=True)).one_or_none()
    if center is None:
        raise click.BadParameter(f"no active centre with code {center_code!r}", param_hint="--center")
    field = db.session.scalars(select(Field).filter_by(code=field_code, active=True)).one_or_none()
    if field is None:
        raise click.BadParameter(f"no active field with code {field_code!r}", param_hint="--field")
    try:
        minted = mint_dossier_link(db.session, current_app.config, dossier_code, center, field, now_utc())
    except LinkError as error:
        db.session.rollback()
        message = {"answered": "this dossier already has a response"}.get(error.reason, "the dossier code must be 1 to 100 characters without spaces")
        raise click.ClickException(message) from None
    db.session.commit()
    click.echo(f"{_base_url()}/r/{minted.token}")


@sipas_cli.command("import-centers")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_centers_command(file: Path) -> None:
    """Create or update centres from a CSV file; prints what was rejected and why."""
    from app.services.center_import import import_centers
    from app.timeutil import today_in_vietnam

    report = import_centers(db.session, file.read_bytes(), today_in_vietnam())
    if report.error:
        db.session.rollback()
        raise click.ClickException(f"{file}: {report.error}")
    audit.record(
        db.session, None, "import_centers", str(file), actor="command line",
        **{action: report.count(action) for action in ("created", "updated", "unchanged", "rejected")},
    )
    db.session.commit()
    for result in report.rows:
        line = f"row {result.row}: {result.code or '-'}: {result.action}"
        click.echo(f"{line}: {result.reason}" if result.reason else line)
    click.echo(
        f"created {report.count('created')}, updated {report.count('updated')}, "
        f"unchanged {report.count('unchanged')}, rejected {report.count('rejected')}"
    )


@sipas_cli.command("api-token")
@click.option("--email", required=True, help="The account the program acts for.")
@click.option("--name", default="api", show_default=True, help="What the token is for.")
def api_token_command(email: str, name: str) -> None:
    """Create a bearer token for the JSON API; it is printed once and stored hashed."""
    from app.models import User
    from app.services.api_tokens import create_api_token

    user = db.session.scalars(select(User).filter_by(email=email.strip().lower(), active=True)).one_or_none()
    if user is None:
        raise click.BadParameter(f"no active account {email!r}", param_hint="--email")
    token = create_api_token(db.session, current_app.config, user, name, now_utc())
    audit.record(db.session, None, "api_token", user.email, actor="command line", name=name)
    db.session.commit()
    click.echo(token)


def _write_atomically(out: Path, body: bytes) -> None:
    out = out.resolve()
    handle = tempfile.NamedTemporaryFile("wb", dir=out.parent, prefix=f".{out.name}.", delete=False)
    try:
        with handle:
            handle.write(body)
        os.replace(handle.name, out)
    except BaseException:
        os.unlink(handle.name)
        raise


@sipas_cli.command("purge")
@click.option("--older-than", "days", required=True, type=click.IntRange(1, 36500), help="Age in days.")
def purge_command(days: int) -> None:
    """Delete per-response device and network hashes and dossier ties older than DAYS; keep answers."""
    from app.services.purge import purge_linkage

    report = purge_linkage(db.session, days, now_utc())
    audit.record(db.session, None, "purge", f"older than {days} days", actor="command line",
                 linkage_rows=report.linkage_rows, dossier_links_unlinked=report.dossier_links_unlinked)
    db.session.commit()
    click.echo(f"Removed linkage of {report.linkage_rows} responses; unlinked {report.dossier_links_unlinked} dossier links.")


@sipas_cli.command("aggregate")
def aggregate_command() -> None:
    """Count every finished month and quarter once for the analyst's indices (run nightly; safe
    to repeat)."""
    from app.services.tallies import aggregate, is_quarter

    report = aggregate(db.session, today_in_vietnam())
    for key, period in report.tallied:
        click.echo(f"{key} {period}: counted")
    quarters = sum(1 for _, period in report.tallied if is_quarter(period))
    click.echo(f"{len(report.tallied) - quarters} months and {quarters} quarters counted, "
               f"{report.unchanged} unchanged, {report.removed} removed.")


@sipas_cli.command("dump")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path))
def dump_command(out: Path) -> None:
    """Write every table as JSON Lines (to move between SQLite and PostgreSQL)."""
    from app.services.dump import dump_lines

    out = out.resolve()
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=out.parent, prefix=f".{out.name}.", delete=False)
    lines = 0
    try:
        with handle:
            for line in dump_lines(db.session):
                handle.write(line + "\n")
                lines += 1
        os.replace(handle.name, out)
    except BaseException:
        os.unlink(handle.name)
        raise
    click.echo(f"Wrote {lines - 1} rows to {out}")


@sipas_cli.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore_command(file: Path) -> None:
    """Load a dump into this (empty, migrated) database, all or nothing."""
    from app.services.dump import DumpError, restore_lines

    with file.open(encoding="utf-8") as handle:
        try:
            counts = restore_lines(db.session, handle)
        except DumpError as error:
            db.session.rollback()
            raise click.ClickException(f"{file}: {error}") from None
    db.session.commit()
    click.echo(f"Restored {sum(counts.values())} rows into {sum(1 for c in counts.values() if c)} tables.")
