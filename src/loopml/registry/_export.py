"""Packaging a registered version: its bundle, a pinned ``requirements.txt``, a Dockerfile for the server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from loopml.errors import ConfigError, InvalidArgumentError
from loopml.registry._registry import get_model_version

if TYPE_CHECKING:
    from loopml.store import ModelVersion
    from loopml.tracking import TrackingClient

BUNDLE_FILE = "loopml-model.json"
PORT = 8080

DOCKERFILE = """\
# {ref}: loopml's model server in a slim image, run as a non-root user.
FROM python:{python}-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 loopml
WORKDIR /srv

# dependencies first: this layer is rebuilt only when the requirements change
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=loopml:loopml model/ /srv/model/
USER loopml
ENV LOOPML_HOME=/home/loopml/.loopml

EXPOSE {port}
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \\
  CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/v2/health/ready', timeout=2)"
CMD ["loopml", "serve", "/srv/model", "--as", "{served_as}", "--host", "0.0.0.0", "--port", "{port}"]
"""


def export_model(ref: str | ModelVersion, dest: str | Path, *, client: TrackingClient | None = None) -> Path:
    """Write ``dest/model`` (the verified bundle), ``dest/requirements.txt`` and ``dest/Dockerfile``."""
    from loopml._version import __version__
    from loopml.tracking import get_client

    client = client or get_client()
    version = get_model_version(ref, client)
    out = Path(dest)
    if out.exists() and any(out.iterdir()):
        raise InvalidArgumentError(f"{out} is not empty; export into a new or empty folder.")
    out.mkdir(parents=True, exist_ok=True)
    try:
        bundle = client.artifacts.get_dir(version.bundle_digest, out / "model")
        meta = json.loads((bundle / BUNDLE_FILE).read_text())
        requirements = [r for r in meta.get("requirements", []) if not r.lower().startswith("loopml")]
        (out / "requirements.txt").write_text("\n".join([f"loopml=={__version__}", *requirements]) + "\n")
        python = ".".join(str(meta.get("environment", {}).get("python", "3.11")).split(".")[:2])
        (out / "Dockerfile").write_text(
            DOCKERFILE.format(
                ref=version.ref, served_as=f"{version.name}:{version.version}", python=python, port=PORT
            )
        )
        (out / ".dockerignore").write_text("**/__pycache__\n*.pyc\n")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # no half-written export
        raise
    return out


def docker_available() -> str | None:
    """Why Docker cannot build here, or None when an engine answers."""
    docker = shutil.which("docker")
    if docker is None:
        return "there is no `docker` command on this machine"
    try:
        probe = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`docker info` did not answer ({exc})"
    if probe.returncode != 0:
        first = (probe.stderr or probe.stdout).strip().splitlines()
        return "no Docker engine answers" + (f" ({first[0]})" if first else "")
    return None


def build_docker(context: str | Path, tag: str) -> None:
    """``docker build -t tag context`` where a Docker engine exists; a clear error where it does not."""
    why = docker_available()
    if why is not None:
        raise ConfigError(
            f"Cannot build the image: {why}. The build context {context} is ready; run "
            f"`docker build -t {tag} {context}` on a machine with Docker."
        )
    subprocess.run(["docker", "build", "-t", tag, str(context)], check=True)
