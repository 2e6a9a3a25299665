"""The recipe of a clip: which model at which revision made it, with which software, on what.

``describe(engine)`` returns the facts a worker records with every generation (stored on the
Generation as ``recipe``; docs/architecture.md names the keys):

- ``model`` and ``model_revision``, with ``model_revision_source`` saying how the revision was
  found (docs/engines.md):
  - ``hub_commit``: a hub id resolved from the Hugging Face cache, or a local path inside a
    cache snapshot (``models--org--name/snapshots/<commit>/``): the snapshot's commit;
  - ``folder_hash``: any other local model folder: a SHA-256 (first 16 hex digits) over every
    file's relative path, size and modification time, and the full contents of its small
    config files (``*.json``, ``*.txt``, ``*.model``, ``*.yaml``, up to 1 MiB each), so
    re-saving or replacing any file changes it and nothing else does;
  - ``engine_version``: an engine without weights (procedural): its own version string;
  - ``unknown``: a hub id that is not in the local cache (cannot happen after a load from it).
- ``device``: ``"cpu"``, or e.g. ``"cuda:0 NVIDIA H100 80GB HBM3"``.
- ``versions``: ``platform`` (this project's version, from pyproject.toml), ``torch``,
  ``diffusers`` (the installed packages' versions, None when absent) and ``ffmpeg`` (the first
  line of ``ffmpeg -version`` without its copyright, read once per process).

Nothing here imports torch unless an engine already runs on it (its device is named through it).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from workers.media.encode import ffmpeg_exe

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
PROJECT_DISTRIBUTION = "ai-lounge"
CONFIG_SUFFIXES = (".json", ".txt", ".model", ".yaml", ".yml")
CONFIG_MAX_BYTES = 1 << 20
REVISION_DIGITS = 16
_SNAPSHOT = re.compile(
    r"models--(?P<org>[^/\\]+?)--(?P<name>[^/\\]+)[/\\]snapshots[/\\](?P<commit>[0-9a-f]{40})"
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def describe(engine: Any) -> dict:
    """The recipe facts for a clip that ``engine`` made (see the module docstring). A wrapper
    (workers.storyboard.chain.AnchoredEngine) is described by the engine it wraps."""
    while getattr(engine, "engine", None) is not None and not hasattr(engine, "model"):
        engine = engine.engine
    model = getattr(engine, "model", None)
    if isinstance(model, str) and model:
        facts = model_facts(model)
        device = device_label(getattr(engine, "device", "cpu") or "cpu")
    else:
        version = str(getattr(engine, "version", "") or "")
        facts = {
            "model": getattr(engine, "name", "unknown"),
            "model_revision": version or None,
            "model_revision_source": "engine_version" if version else "unknown",
        }
        device = "cpu"
    return {**facts, "device": device, "versions": versions()}


def model_facts(model: str) -> dict:
    """``model``, ``model_revision`` and ``model_revision_source`` for a hub id or a folder."""
    path = Path(model).expanduser()
    if path.is_dir():
        snapshot = snapshot_commit(path)
        if snapshot:
            return {
                "model": snapshot[0],
                "model_revision": snapshot[1],
                "model_revision_source": "hub_commit",
            }
        return {
            "model": str(path.resolve()),
            "model_revision": folder_hash(path),
            "model_revision_source": "folder_hash",
        }
    commit = hub_cache_commit(model) if _HUB_ID.match(model) else None
    return {
        "model": model,
        "model_revision": commit,
        "model_revision_source": "hub_commit" if commit else "unknown",
    }


def snapshot_commit(path: Path) -> tuple[str, str] | None:
    """``(org/name, commit)`` when ``path`` is a Hugging Face cache snapshot folder."""
    for candidate in (str(path.absolute()), str(path.resolve())):
        matches = list(_SNAPSHOT.finditer(candidate))
        if matches:
            match = matches[-1]
            return f"{match['org']}/{match['name']}", match["commit"]
    return None


def hub_cache_commit(repo_id: str) -> str | None:
    """The commit of the cached snapshot a load of hub id ``repo_id`` uses (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - ships with diffusers
        return None
    found = try_to_load_from_cache(repo_id, "model_index.json")
    if not isinstance(found, str):
        return None
    snapshot = snapshot_commit(Path(found).parent)
    return snapshot[1] if snapshot else None


def folder_hash(path: Path) -> str:
    """A stable hash of a local model folder: every file's relative path, size and mtime, and
    the contents of its small config files (symlinks are followed, hidden entries skipped)."""
    digest = hashlib.sha256()
    root = Path(path)
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / name for name in filenames if not name.startswith(".")]
    for file in sorted(files, key=lambda f: f.relative_to(root).as_posix()):
        stat = file.stat()
        relative = file.relative_to(root).as_posix()
        digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        if file.suffix.lower() in CONFIG_SUFFIXES and stat.st_size <= CONFIG_MAX_BYTES:
            digest.update(file.read_bytes())
        digest.update(b"\n")
    return digest.hexdigest()[:REVISION_DIGITS]


def device_label(device: str) -> str:
    """``"cpu"``, or the CUDA device's index and name (``"cuda:0 NVIDIA H100 80GB HBM3"``)."""
    device = str(device)
    if not device.startswith("cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return device
    index = torch.device(device).index
    if index is None:
        index = torch.cuda.current_device()
    return f"cuda:{index} {torch.cuda.get_device_name(index)}"


def versions() -> dict:
    """The platform, torch, diffusers and ffmpeg versions of this worker."""
    return {
        "platform": platform_version(),
        "torch": package_version("torch"),
        "diffusers": package_version("diffusers"),
        "ffmpeg": ffmpeg_version(),
    }


def package_version(name: str) -> str | None:
    """The imported module's ``__version__``, else the installed distribution's, else None."""
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__version__", None):
        return str(module.__version__)
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.cache
def platform_version() -> str:
    """This project's version: pyproject.toml's ``[project] version`` (the source tree that
    runs), else the installed distribution's."""
    try:
        return str(tomllib.loads(PYPROJECT.read_text())["project"]["version"])
    except (OSError, KeyError, ValueError):
        try:
            return importlib.metadata.version(PROJECT_DISTRIBUTION)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"


@functools.cache
def ffmpeg_version() -> str | None:
    """The first line of ``ffmpeg -version`` without its copyright, once per process."""
    try:
        done = subprocess.run(
            [ffmpeg_exe(), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines:
        return None
    return lines[0].split(" Copyright")[0].strip()
