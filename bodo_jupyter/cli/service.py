"""Commands about the platform itself: serve, info, instance types."""

from __future__ import annotations

import click
from rich.table import Table

from .app import json_option, main, platform
from .output import emit_json, out


@main.command()
@click.option("--ip", default=None, help="Interface to listen on [127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [8765]; 0 picks one.")
@click.option("--data-dir", default=None, help="Data directory (database, cluster files).")
@click.option("--config", "config_file", default="", help="A bodo_jupyter_config.py to load.")
def serve(ip: str | None, port: int | None, data_dir: str | None, config_file: str) -> None:
    """Run the control plane and its REST API until interrupted."""
    from bodo_jupyter.platform.app import serve as run

    run(config_file=config_file, data_dir=data_dir, ip=ip, port=port)


@main.command()
@json_option
@click.pass_context
def info(ctx: click.Context, as_json: bool) -> None:
    """Where the API is, who you are, which providers exist."""
    p = platform(ctx)
    data = p.info()
    if as_json:
        emit_json({**data.to_dict(), "url": p.url})
        return
    out.print(f"API           {p.url}")
    out.print(f"version       {data.version}")
    out.print(f"user          {data.user.name} ({data.organization.name})")
    provs = ", ".join(pr.name for pr in data.providers)
    out.print(f"providers     {provs} (default {data.default_provider})")


@main.command("instance-types")
@click.option("--provider", default=None, help="Provider (default: the platform's default).")
@click.option("--efa", is_flag=True, help="Only EFA-capable types.")
@json_option
@click.pass_context
def instance_types(ctx: click.Context, provider: str | None, efa: bool, as_json: bool) -> None:
    """Instance types a cluster can be made of."""
    items = platform(ctx).instance_types(provider, efa or None)
    if as_json:
        emit_json([it.to_dict() for it in items])
        return
    if not items:
        out.print("No instance types" + (" with EFA" if efa else "") + ".")
        return
    t = Table("NAME", "CORES", "VCPUS", "MEMORY (GiB)", "EFA", "PROVIDER", box=None)
    for it in items:
        t.add_row(it.name, str(it.cores), str(it.vcpus), f"{it.memory_gib:g}",
                  "yes" if it.efa else "no", it.provider)
    out.print(t)


@main.command("bodo-versions")
@click.option("--provider", default=None, help="Provider (default: the platform's default).")
@json_option
@click.pass_context
def bodo_versions(ctx: click.Context, provider: str | None, as_json: bool) -> None:
    """Bodo versions a cluster can run (`cluster create --bodo-version`)."""
    items = platform(ctx).bodo_versions(provider)
    if as_json:
        emit_json([v.to_dict() for v in items])
        return
    if not items:
        out.print("No Bodo versions: clusters of this provider run without Bodo.")
        return
    t = Table("VERSION", "DEFAULT", "PROVIDER", box=None)
    for v in items:
        t.add_row(v.version, "yes" if v.default else "", v.provider)
    out.print(t)
