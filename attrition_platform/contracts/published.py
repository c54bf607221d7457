"""The published location: where the graph puts the promoted model and serving finds it.

Layout under `ATTRITION_SERVING_URI` (a directory, `file://` URI or `s3://bucket/prefix`; the
S3 store is in object_store.py):

    bundles/<model_version>/    the bundle files + MANIFEST.json (sha256 and size per file);
                                immutable once its manifest exists
    scores/<YYYY-MM-DD>/scores.arrow   the nightly fallback export
    CURRENT                     JSON pointer: which bundle and which export serving should use

Publishing writes the bundle files, then the manifest (its presence marks the bundle complete),
reads everything back and loads it, and only then replaces CURRENT in one atomic step (rename on
disk, one PUT on S3). A reader follows CURRENT to a manifest that names only files already
written, so it never sees a half-written bundle. One writer at a time is assumed (the Dagster
graph); two concurrent CURRENT rewrites would be last-writer-wins, never a torn file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

import msgspec

from attrition_platform.model.bundle import BundleError, ModelBundle
from attrition_platform.settings import paths

ENV_VAR = "ATTRITION_SERVING_URI"
POINTER_KEY = "CURRENT"
MANIFEST_FILE = "MANIFEST.json"
BUNDLES_PREFIX = "bundles/"
SCORES_PREFIX = "scores/"
SCORES_FILE = "scores.arrow"
MANIFEST_FORMAT = 1
_TMP_PREFIX = ".tmp-"
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class PublicationError(Exception):
    """A publication or a read of the published location that did not pass a check.

    The message names the file (or key) and the check; nothing is half-applied: CURRENT is only
    ever replaced after every check passed.
    """


class Pointer(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    model_version: str
    bundle_path: str
    scores_path: str | None
    published_at: str  # ISO 8601, UTC
    promoted_by: str
    reason: str
    # When the export at scores_path was last (re)written: readers reload when it changes, so
    # an export rewritten in place (an erasure) is picked up without a new path.
    scores_revision: str | None = None


class ManifestEntry(msgspec.Struct, frozen=True):
    sha256: str
    size: int


class Manifest(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    format_version: int
    model_version: str
    files: dict[str, ManifestEntry]


@runtime_checkable
class Store(Protocol):
    """The minimum an object store offers. Keys are relative POSIX paths ("bundles/7/x")."""

    def read_bytes(self, key: str) -> bytes | None: ...

    def write_bytes(self, key: str, data: bytes) -> None: ...  # atomic per object

    def list(self, prefix: str) -> list[str]: ...

    def exists(self, key: str) -> bool: ...

    def describe(self) -> str: ...


def check_key(key: str) -> str:
    """`key` when it is a plain relative path; a key with '..' could leave the store's root."""
    parts = PurePosixPath(key).parts
    if not key or key.startswith("/") or "\\" in key or any(p in ("..", ".") for p in parts):
        raise PublicationError(f"key {key!r}: must be a relative path without '..'")
    return key


class LocalStore:
    """A directory as an object store; each write is atomic (temp file, fsync, rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def read_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def write_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # The rename itself is durable only once the directory entry is flushed.
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(_TMP_PREFIX)
        )

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def describe(self) -> str:
        return f"directory {self.root}"


def default_serving_uri() -> str:
    """$ATTRITION_SERVING_URI, else the `serving` folder of the data directory (read at call time)."""
    return os.environ.get(ENV_VAR) or str(paths().home / "serving")


def store_from_uri(uri: str, storage_options: Mapping[str, str] | None = None) -> Store:
    """The store at `uri`: a directory, `file://` URI or `s3://bucket/prefix`.

    `storage_options` (the lake's AWS_* dict, see storage_options.py) configure the S3 client;
    None reads them from the environment. They are ignored for a directory.
    """
    if uri.startswith("s3://"):
        from attrition_platform.contracts.object_store import S3Store, s3_client_from_env

        return S3Store.from_uri(uri, s3_client_from_env(storage_options))
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    elif "://" in uri:
        raise PublicationError(f"{ENV_VAR}={uri}: expected a directory, file:// or s3:// URI")
    if not uri:
        raise PublicationError(f"{ENV_VAR}: empty location")
    path = Path(uri).expanduser()
    if path.exists() and not path.is_dir():
        raise PublicationError(f"{ENV_VAR}={uri}: is a file, not a directory")
    return LocalStore(path)


# -- pointer -----------------------------------------------------------------------------------
def read_pointer(store: Store) -> Pointer | None:
    """The current pointer; None when nothing was ever published."""
    data = store.read_bytes(POINTER_KEY)
    if data is None:
        return None
    try:
        pointer = msgspec.json.decode(data, type=Pointer)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise PublicationError(
            f"{POINTER_KEY} in {store.describe()}: not a valid pointer ({exc})"
        ) from None
    if not pointer.bundle_path.startswith(BUNDLES_PREFIX):
        raise PublicationError(
            f"{POINTER_KEY} in {store.describe()}: bundle_path must be under {BUNDLES_PREFIX}"
        )
    return pointer


def _write_pointer(store: Store, pointer: Pointer) -> None:
    store.write_bytes(POINTER_KEY, msgspec.json.format(msgspec.json.encode(pointer), indent=2))


def _now_iso(now: datetime | None) -> str:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise PublicationError("published_at: the time must be timezone-aware")
    return moment.astimezone(UTC).isoformat()


# -- bundles -----------------------------------------------------------------------------------
def bundle_prefix(model_version: str) -> str:
    return f"{BUNDLES_PREFIX}{model_version}/"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_files(bundle_dir: Path) -> dict[str, bytes]:
    if not bundle_dir.is_dir():
        raise PublicationError(f"bundle directory {bundle_dir}: does not exist")
    files = {
        p.relative_to(bundle_dir).as_posix(): p.read_bytes()
        for p in sorted(bundle_dir.rglob("*"))
        if p.is_file() and p.name != MANIFEST_FILE
    }
    if not files:
        raise PublicationError(f"bundle directory {bundle_dir}: holds no files")
    return files


def _read_manifest(store: Store, prefix: str) -> Manifest | None:
    data = store.read_bytes(prefix + MANIFEST_FILE)
    if data is None:
        return None
    try:
        manifest = msgspec.json.decode(data, type=Manifest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise PublicationError(f"{prefix}{MANIFEST_FILE}: not a valid manifest ({exc})") from None
    if manifest.format_version != MANIFEST_FORMAT:
        raise PublicationError(
            f"{prefix}{MANIFEST_FILE}: format {manifest.format_version}, "
            f"this code reads format {MANIFEST_FORMAT}"
        )
    for name in manifest.files:
        if name == MANIFEST_FILE:
            raise PublicationError(f"{prefix}{MANIFEST_FILE}: lists itself")
        check_key(prefix + name)
    return manifest


def _download_verified(store: Store, prefix: str, manifest: Manifest, dest: Path) -> None:
    """Copy every listed file to `dest`, refusing a missing, extra or altered one by name."""
    listed = set(manifest.files)
    present = {k[len(prefix) :] for k in store.list(prefix)} - {MANIFEST_FILE}
    extra = sorted(present - listed)
    if extra:
        raise PublicationError(f"{prefix}{extra[0]}: file not listed in {MANIFEST_FILE}")
    for name, entry in sorted(manifest.files.items()):
        data = store.read_bytes(prefix + name)
        if data is None:
            raise PublicationError(f"{prefix}{name}: listed in {MANIFEST_FILE} but missing")
        if len(data) != entry.size or _sha256(data) != entry.sha256:
            raise PublicationError(f"{prefix}{name}: sha256/size differs from {MANIFEST_FILE}")
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _load(prefix: str, local: Path) -> ModelBundle:
    try:
        return ModelBundle.load(local)
    except BundleError as exc:
        raise PublicationError(
            f"{prefix}: files verified but not a loadable bundle ({exc})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - xgboost raises XGBoostError on a corrupt booster
        raise PublicationError(
            f"{prefix}: files verified but not a loadable bundle ({type(exc).__name__})"
        ) from None


def publish_bundle(
    store: Store,
    bundle_dir: Path,
    model_version: str,
    *,
    promoted_by: str,
    reason: str,
    scores_path: str | None = None,
    now: datetime | None = None,
) -> Pointer:
    """Publish `bundle_dir` as `model_version` and point CURRENT at it.

    The bundle is immutable: a different bundle at an existing version is refused; the same
    bytes again only rewrite CURRENT (idempotent). `scores_path` None keeps the export CURRENT
    already names (each export row carries the model version that scored it), so serving keeps
    a fallback across a promotion until the next nightly export.
    """
    if not _VERSION_RE.match(model_version):
        raise PublicationError(
            f"model_version {model_version!r}: use letters, digits, '.', '_' or '-'"
        )
    if not promoted_by.strip():
        raise PublicationError("promoted_by: must be non-empty")
    if not reason.strip():
        raise PublicationError("reason: must be non-empty")
    if scores_path is not None and not store.exists(scores_path):
        raise PublicationError(f"{scores_path}: scores export not found in {store.describe()}")
    files = _source_files(Path(bundle_dir))
    # Refuse a broken source before anything is written: a version, once it has a manifest,
    # is taken for good.
    _load(f"bundle directory {bundle_dir}", Path(bundle_dir))
    manifest = Manifest(
        format_version=MANIFEST_FORMAT,
        model_version=model_version,
        files={n: ManifestEntry(sha256=_sha256(d), size=len(d)) for n, d in files.items()},
    )
    prefix = bundle_prefix(model_version)
    existing = _read_manifest(store, prefix)
    if existing is not None and existing.files != manifest.files:
        changed = sorted(set(existing.files) ^ set(manifest.files)) or sorted(
            n for n in manifest.files if existing.files[n] != manifest.files[n]
        )
        raise PublicationError(
            f"{prefix}: version {model_version} is already published with different files "
            f"(bundles are immutable; first difference: {changed[0]})"
        )
    if existing is None:
        # Leftovers of an interrupted publication (no manifest yet) are overwritten; a file
        # that would not be listed is refused rather than left behind to fail every reader.
        stray = sorted({k[len(prefix) :] for k in store.list(prefix)} - set(files))
        if stray:
            raise PublicationError(
                f"{prefix}{stray[0]}: unlisted file left from an earlier attempt; remove it"
            )
        for name, data in files.items():
            store.write_bytes(prefix + name, data)
        store.write_bytes(
            prefix + MANIFEST_FILE, msgspec.json.format(msgspec.json.encode(manifest), indent=2)
        )
    with tempfile.TemporaryDirectory(prefix="attrition-publish-") as tmp:
        check = _read_manifest(store, prefix)
        if check is None or check.files != manifest.files:
            raise PublicationError(f"{prefix}{MANIFEST_FILE}: did not read back as written")
        _download_verified(store, prefix, check, Path(tmp))
        _load(prefix, Path(tmp))
    try:
        previous = read_pointer(store)
    except PublicationError:
        previous = None  # a damaged CURRENT is what a new publication repairs
    pointer = Pointer(
        model_version=model_version,
        bundle_path=prefix,
        scores_path=scores_path
        if scores_path is not None
        else (previous.scores_path if previous else None),
        published_at=_now_iso(now),
        promoted_by=promoted_by,
        reason=reason,
    )
    _write_pointer(store, pointer)
    return pointer


def fetch_bundle(store: Store, pointer: Pointer, dest: Path) -> ModelBundle:
    """Download the bundle `pointer` names into `dest`, verify every file, and load it.

    `metadata["model_version"]` and `metadata["published_at"]` are set from the pointer: the
    saved files cannot know the version number they were published under.
    """
    bundle = _fetch_prefix(store, pointer.bundle_path, dest)
    bundle.metadata["model_version"] = pointer.model_version
    bundle.metadata["published_at"] = pointer.published_at
    return bundle


def fetch_version(store: Store, model_version: str, dest: Path) -> ModelBundle | None:
    """The published bundle of any `model_version` (not only the one CURRENT names), verified
    like `fetch_bundle`; None when that version was never published."""
    prefix = bundle_prefix(model_version)
    if not store.exists(prefix + MANIFEST_FILE):
        return None
    bundle = _fetch_prefix(store, prefix, dest)
    bundle.metadata["model_version"] = model_version
    return bundle


def _fetch_prefix(store: Store, bundle_path: str, dest: Path) -> ModelBundle:
    prefix = bundle_path if bundle_path.endswith("/") else bundle_path + "/"
    manifest = _read_manifest(store, prefix)
    if manifest is None:
        raise PublicationError(
            f"{prefix}{MANIFEST_FILE}: missing (bundle not published completely)"
        )
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    _download_verified(store, prefix, manifest, dest)
    return _load(prefix, dest)


# -- scores ------------------------------------------------------------------------------------
def scores_key_for(day: date) -> str:
    return f"{SCORES_PREFIX}{day.isoformat()}/{SCORES_FILE}"


def publish_scores(store: Store, day: date, export_bytes: bytes) -> str:
    """Write one day's fallback export (checked to be a readable export first); returns its key.

    Re-running a day replaces that day's file atomically; CURRENT moves only via point_scores.
    """
    from attrition_platform.contracts.fallback_export import ExportError, check_export

    try:
        check_export(export_bytes)
    except ExportError as exc:
        raise PublicationError(f"{scores_key_for(day)}: {exc}") from None
    key = scores_key_for(day)
    store.write_bytes(key, export_bytes)
    back = store.read_bytes(key)
    if back is None or _sha256(back) != _sha256(export_bytes):
        raise PublicationError(f"{key}: did not read back as written")
    return key


def point_scores(store: Store, scores_key: str, now: datetime | None = None) -> Pointer:
    """Rewrite CURRENT with the same model and a new (or rewritten) export (atomic); published_at
    stays the model's publication time, scores_revision becomes now."""
    pointer = read_pointer(store)
    if pointer is None:
        raise PublicationError(
            f"{POINTER_KEY} in {store.describe()}: nothing published yet; publish a bundle first"
        )
    if not store.exists(scores_key):
        raise PublicationError(f"{scores_key}: scores export not found in {store.describe()}")
    updated = msgspec.structs.replace(pointer, scores_path=scores_key, scores_revision=_now_iso(now))
    _write_pointer(store, updated)
    return updated
