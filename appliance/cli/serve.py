"""``appliance serve CONFIG``: run the online CA over HTTPS."""

from __future__ import annotations

import os
from pathlib import Path

import click

from appliance.cli.options import password_file_option, read_password_file


@click.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@password_file_option
@click.option("--workers", type=click.IntRange(min=1), default=lambda: os.cpu_count() or 1,
              show_default="number of cores", help="Worker processes (they share the database).")
def serve(config: str, password_file: str | None, workers: int) -> None:
    """Serve step-ca's API over HTTPS with the CA's own certificate; SIGHUP reloads CONFIG."""
    from appliance.server.supervisor import ServeOptions, serve as run_server  # the web stack only when serving

    run_server(ServeOptions(config_path=Path(config).resolve(), password=read_password_file(password_file),
                            workers=workers))
