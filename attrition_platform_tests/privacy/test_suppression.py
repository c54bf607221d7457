"""The suppression list: salted hashes only, one salt per lake, production salt from the environment."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from deltalake import DeltaTable

from attrition_platform.privacy import suppression


@pytest.fixture(autouse=True)
def _no_salt_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(suppression.SALT_ENV, raising=False)


def test_the_list_holds_a_salted_hash_and_never_the_id(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    assert suppression.suppress(lake, 4711)
    stored = DeltaTable(str(tmp_path / "lake" / suppression.TABLE)).to_pyarrow_table().to_pylist()
    assert len(stored) == 1
    assert "4711" not in repr(stored)
    assert stored[0][suppression.HASH_COLUMN] == suppression.id_hashes([4711], suppression.salt(lake))[0]
    assert suppression.is_suppressed(lake, 4711) and not suppression.is_suppressed(lake, 4712)


def test_suppressing_twice_keeps_one_entry(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    assert suppression.suppress(lake, 9)
    assert not suppression.suppress(lake, 9)
    assert len(suppression.suppressed_hashes(lake)) == 1


def test_the_salt_is_made_once_per_lake_with_mode_0600_and_differs_between_lakes(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    first = suppression.salt(a)
    assert suppression.salt(a) == first
    assert stat.S_IMODE((tmp_path / "a" / suppression.SALT_FILE).stat().st_mode) == 0o600
    assert suppression.salt(b) != first
    # The same id hashes differently in two lakes: a list leaked from one says nothing of the other.
    assert suppression.id_hashes([5], first) != suppression.id_hashes([5], suppression.salt(b))


def test_concurrent_first_users_agree_on_one_salt(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    seen: list[bytes] = []
    threads = [threading.Thread(target=lambda: seen.append(suppression.salt(lake))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 1 and len(seen) == 8


def test_the_environment_salt_wins_and_a_remote_lake_needs_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(suppression.SuppressionError, match=suppression.SALT_ENV):
        suppression.salt("s3://lake-bucket/prefix")
    monkeypatch.setenv(suppression.SALT_ENV, "from-vault")
    assert suppression.salt("s3://lake-bucket/prefix") == b"from-vault"
    assert suppression.salt(str(tmp_path / "lake")) == b"from-vault"
    assert not (tmp_path / "lake" / suppression.SALT_FILE).exists()


def test_the_mask_marks_only_listed_ids_and_reads_no_salt_when_the_list_is_empty(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    assert suppression.suppressed_mask([1, 2, 3], lake).tolist() == [False, False, False]
    assert not (tmp_path / "lake" / suppression.SALT_FILE).exists()
    suppression.suppress(lake, 2)
    assert suppression.suppressed_mask([1, 2, 3, 2], lake).tolist() == [False, True, False, True]
