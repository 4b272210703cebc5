"""Atomic writes keep the permissions a plain write would give."""

import os
import stat

from asetools._files import atomic_path


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_file_gets_the_umask_mode_and_a_replaced_file_keeps_its_mode(tmp_path):
    previous = os.umask(0o022)
    try:
        target = tmp_path / "out.txt"
        with atomic_path(target) as temporary:
            temporary.write_text("first")
        assert target.read_text() == "first" and _mode(target) == 0o644
        os.chmod(target, 0o640)
        with atomic_path(target) as temporary:
            temporary.write_text("second")
        assert target.read_text() == "second" and _mode(target) == 0o640
        assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    finally:
        os.umask(previous)
