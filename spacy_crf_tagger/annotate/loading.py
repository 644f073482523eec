"""Finding, loading and shipping the pipeline that annotates.

A pipeline is given as a folder (``spacy train``'s ``model-best``, ``nlp.to_disk``)
or as the name of an installed package (``spacy package``). The Ray engine ships a
folder to its actors as an in-memory tar archive through Ray's object store, so
the machines of a cluster need no shared file system; a package name is loaded on
each actor, so the package must be installed there.
"""
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, Union

import spacy
from spacy.language import Language
from spacy.util import get_package_version, is_package

COPY_PREFIX = "crf-annotate-model-"


def resolve_model(model: Union[str, Path]) -> str:
    """Check that the pipeline exists, before any work starts.

    model (Union[str, Path]): A pipeline folder or an installed package name.
    RETURNS (str): The folder as an absolute path, or the package name.
    """
    path = Path(model)
    if path.exists():
        if not (path / "config.cfg").exists():
            raise ValueError(
                f"Expected a spaCy pipeline folder with a config.cfg, got {path}. Pass a folder "
                "written by `spacy train` (e.g. training/.../model-best) or `nlp.to_disk`."
            )
        return str(path.resolve())
    if is_package(str(model)):
        return str(model)
    raise ValueError(
        f"Expected a spaCy pipeline folder or an installed pipeline package, got {str(model)!r}, "
        "which is neither. Check the path, or install the package (`pip install` the wheel "
        "made by `spacy package`)."
    )


def model_fingerprint(model: str) -> Dict[str, str]:
    """What identifies a resolved pipeline, so a job is not resumed with another one.

    RETURNS (Dict[str, str]): ``{"name": ..., "version": ...}``: a folder's version
        is a SHA-256 of its files (paths and contents), a package's its version.
    """
    if not is_folder(model):
        return {"name": model, "version": str(get_package_version(model))}
    digest = hashlib.sha256()
    root = Path(model)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode("utf8") + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return {"name": model, "version": f"sha256:{digest.hexdigest()}"}


def is_folder(model: str) -> bool:
    """RETURNS (bool): Whether a resolved model is a folder (not a package name)."""
    return Path(model).is_dir()


def load_pipeline(model: str, gpu_id: int = -1) -> Language:
    """Load a resolved pipeline, on a GPU if ``gpu_id`` >= 0."""
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    return spacy.load(model)


def pack_folder(model: str) -> bytes:
    """RETURNS (bytes): The pipeline folder as an uncompressed tar archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(model, arcname="model")
    return buffer.getvalue()


def load_packed(archive: bytes) -> Language:
    """Load a pipeline from ``pack_folder``'s archive (unpacked to a temporary folder
    that is removed once loaded; folders left by processes killed while loading are
    removed by the next one)."""
    _remove_orphaned_copies()
    tmp = Path(tempfile.mkdtemp(prefix=f"{COPY_PREFIX}{os.getpid()}-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
            _extract(tar, tmp)
        return spacy.load(tmp / "model")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _remove_orphaned_copies() -> None:
    for path in Path(tempfile.gettempdir()).glob(f"{COPY_PREFIX}*-*"):
        pid = path.name[len(COPY_PREFIX) :].split("-")[0]
        if pid.isdigit() and not _is_running(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _extract(tar: tarfile.TarFile, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):  # Python 3.12+, and 3.8-3.11 security releases
        tar.extractall(dest, filter="data")
    else:  # pragma: no cover
        tar.extractall(dest)
