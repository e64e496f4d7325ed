"""``loopml serve NAME@ALIAS`` or ``loopml serve --deployment NAME``: the model server on uvicorn.

With ``--deployment``, every worker follows the deployment kept in the Store (``loopml deploy``): its
champion, canary (with its percent and sticky key) and shadow, re-read every ``--reload-interval``."""

from __future__ import annotations

import os

import typer

from loopml.cli._app import app
from loopml.cli._output import console


@app.command("serve")
def serve_cmd(
    ref: str | None = typer.Argument(
        None, help="NAME@ALIAS, NAME:V, or an exported bundle folder (or --deployment instead)."
    ),
    deployment: str | None = typer.Option(
        None, "--deployment", "-d", help="Follow this deployment of the Store (loopml deploy create)."
    ),
    reload_interval: float = typer.Option(
        2.0,
        "--reload-interval",
        min=0.0,
        help="Seconds between checks of the deployment or the alias (0: never).",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8080, "--port", "-p", min=0, max=65535),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Server processes."),
    max_batch: int = typer.Option(64, "--max-batch", min=1, help="Rows per predict call at most."),
    max_wait_ms: float = typer.Option(
        2.0, "--max-wait-ms", min=0.0, help="How long a batch may wait to fill."
    ),
    no_batching: bool = typer.Option(False, "--no-batching", help="One predict call per request."),
    canary: str | None = typer.Option(
        None, "--canary", help="NAME:V=PERCENT: that share of traffic to NAME:V."
    ),
    shadow: str | None = typer.Option(
        None, "--shadow", help="NAME:V answers a copy of the traffic (never returned)."
    ),
    served_as: str | None = typer.Option(
        None, "--as", help="NAME:V a bundle folder answers to and is logged under (default: folder name, 0)."
    ),
    no_log_proba: bool = typer.Option(
        False, "--no-log-proba", help="Log no class probabilities (proba.<class>) for a classifier."
    ),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn's log level."),
) -> None:
    """Serve a model over HTTP: Open Inference Protocol (V2) and MLflow's /invocations, with /metrics."""
    import uvicorn

    from loopml.errors import InvalidArgumentError
    from loopml.serving._app import ModelServer, ServedModel, ServerOptions, parse_canary

    if (ref is None) == (deployment is None):
        raise InvalidArgumentError(
            "Give what to serve: a model (loopml serve NAME@ALIAS) or a deployment "
            "(loopml serve --deployment NAME), one of the two."
        )
    if deployment is not None and (canary or shadow or served_as):
        raise InvalidArgumentError(
            f"Deployment {deployment!r} names its own routes; change them with `loopml deploy set "
            f"{deployment}` rather than --canary, --shadow or --as."
        )
    options = ServerOptions(
        reload_interval=reload_interval,
        batching=not no_batching,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        canary=parse_canary(canary),
        shadow=shadow,
        admin_token=os.environ.get("LOOPML_ADMIN_TOKEN") or None,
        log_probabilities=not no_log_proba,
        workers=workers,
        deployment=deployment,
    )
    # fail here, with one line, when the model (or the deployment's champion) cannot be loaded
    if deployment is not None:
        server = ModelServer.follow(deployment, options)
        what = f"deployment [bold]{deployment}[/]: "
    else:
        server = ModelServer(ServedModel.load(ref or "", served_as), options)
        what = ""
    served = server.served
    console.print(
        f"Serving {what}[bold]{served.name}[/] version {served.version} ({served.ref}) on "
        f"http://{host}:{port} (V2: /v2/models/{served.name}/infer, MLflow: /invocations, /metrics, "
        "/openapi.json)",
        highlight=False,
        soft_wrap=True,
    )
    if workers == 1:
        uvicorn.run(server.app(), host=host, port=port, log_level=log_level)
        return
    os.environ.update(
        {
            "LOOPML_SERVE_REF": ref or "",
            "LOOPML_SERVE_DEPLOYMENT": deployment or "",
            "LOOPML_SERVE_RELOAD_INTERVAL": str(reload_interval),
            "LOOPML_SERVE_BATCHING": "0" if no_batching else "1",
            "LOOPML_SERVE_MAX_BATCH": str(max_batch),
            "LOOPML_SERVE_MAX_WAIT_MS": str(max_wait_ms),
            "LOOPML_SERVE_CANARY": canary or "",
            "LOOPML_SERVE_SHADOW": shadow or "",
            "LOOPML_SERVE_AS": served_as or "",
            "LOOPML_SERVE_WORKERS": str(workers),
            "LOOPML_SERVE_LOG_PROBA": "0" if no_log_proba else "1",
        }
    )
    uvicorn.run(
        "loopml.serving._app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
