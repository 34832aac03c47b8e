"""``microgrid service``: run the HTTP service and issue API keys from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli.common import run_command

service_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                          help="The HTTP service: serve it, issue API keys.")


def _settings():
    """The service settings, a bad ``MICROGRID_*`` variable as one-line error."""
    from pydantic import ValidationError

    from microgrid.errors import InvalidRequestError
    from service.api.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise InvalidRequestError(f"MICROGRID_{where.upper()}: {first['msg'].removeprefix('Value error, ')}"
                                  if first["loc"] else first["msg"].removeprefix("Value error, ")) from None


@service_app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address (default MICROGRID_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default MICROGRID_PORT, 8000).")] = None,
) -> None:
    """Serve the HTTP API (docs at /docs); the database and files under MICROGRID_DATA_DIR (var/)."""

    def action() -> None:
        import uvicorn

        settings = _settings()
        typer.echo(f"serving on http://{host or settings.host}:{port or settings.port} "
                   f"(docs: /docs; database: {settings.database_url})")
        uvicorn.run("service.api.main:app", host=host or settings.host, port=port or settings.port,
                    timeout_graceful_shutdown=5, log_level="info")

    run_command(action)


@service_app.command("create-key")
def create_key_command(
    name: Annotated[str, typer.Option("--name", help="Who or what the key is for.")],
    park: Annotated[list[str] | None, typer.Option("--park", help="A park the key may use (repeat for more).")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin key: registers parks, issues keys.")] = False,
) -> None:
    """Issue an API key and print it (shown once; the database keeps only its SHA-256)."""

    def action() -> None:
        from microgrid.errors import InvalidRequestError
        from service.api.db import init_db, make_engine, session_factory
        from service.api.main import register_reference_cases
        from service.api.problems import ProblemError
        from service.api.security import create_key

        if not admin and not park:
            raise InvalidRequestError("--park: give at least one park the key may use, or --admin")
        settings = _settings()
        engine = make_engine(settings.database_url)
        try:
            init_db(engine)
            factory = session_factory(engine)
            register_reference_cases(settings, factory)
            with factory() as session:
                row, token = create_key(session, name, list(park or []), admin=admin)
        except ProblemError as exc:
            raise InvalidRequestError(exc.detail) from None
        finally:
            engine.dispose()
        scope = "admin" if admin else "parks " + ", ".join(row.park_ids)
        typer.echo(f"created key {row.id} ({row.name}, {scope}); store it now, it is not shown again:", err=True)
        typer.echo(token)

    run_command(action)
