"""Every platform: no ``fcntl`` (Windows), no ``/proc`` (macOS, Windows), each platform's cache folder;
and ``autonet/storage`` and ``autonet/data`` do not import each other."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_import_and_the_run_lock_work_without_fcntl(tmp_path):
    done = run_python(
        """
        import os, sys, warnings
        sys.modules["fcntl"] = None  # import fcntl raises ImportError, as on Windows
        import autonet, autonet.data, autonet.storage.checkpoints, autonet.storage.models, autonet.run
        from autonet.storage.lock import RunLock, check_no_writer
        run = sys.argv[1]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with RunLock(run) as lock:
                assert lock.held
                check_no_writer(run)
        assert not os.path.lexists(run + "/.lock")  # released: the lock file is removed
        print(caught[0].message)
        """,
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "run-directory locking is unavailable on this platform (neither fcntl nor msvcrt): make sure only one "
        "autonet process writes a run directory at a time"
    )


def test_the_windows_lock_is_taken_with_msvcrt_and_refuses_a_second_writer(tmp_path, monkeypatch):
    import autonet.storage.lock as lock_module
    from autonet.errors import RunDirBusy

    held: dict[int, int] = {}  # inode -> fd holding its first byte, as msvcrt.locking(LK_NBLCK, 1) would

    def locking(fd: int, mode: int, nbytes: int) -> None:
        assert mode == fake.LK_NBLCK and nbytes == 1 and os.lseek(fd, 0, os.SEEK_CUR) == 0
        inode = os.fstat(fd).st_ino
        if inode in held:
            raise PermissionError(13, "Permission denied")
        held[inode] = fd

    fake = types.SimpleNamespace(LK_NBLCK=2, locking=locking)
    monkeypatch.setattr(lock_module, "fcntl", None)
    monkeypatch.setattr(lock_module, "msvcrt", fake)
    first = lock_module.RunLock(tmp_path).acquire()
    with pytest.raises(RunDirBusy, match=f"in use by another autonet process \\(PID {os.getpid()}\\)"):
        lock_module.RunLock(tmp_path).acquire()
    first.release()


def test_the_memory_estimate_says_unknown_without_proc_or_cgroup(tmp_path, monkeypatch):
    import resource

    from autonet import memory

    monkeypatch.setattr(memory, "PROC", tmp_path / "no-proc")
    monkeypatch.setattr(memory, "CGROUP", tmp_path / "no-cgroup")
    monkeypatch.delattr(os, "sysconf")  # Windows has none
    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert memory.memory_budget() is None
    assert memory.check_fits({"parameters": 2**20}, "this run") == (
        "this run needs about 1.0 MiB of memory; available memory unknown"
    )
    monkeypatch.setattr(resource, "getrlimit", lambda which: (2**30, 2**30))  # ulimit -v, but no /proc/self/status
    assert memory.memory_budget() == (2**30, "RLIMIT_AS (ulimit -v) 1.0 GiB, use unknown")


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {"XDG_CACHE_HOME": "/xdg"}, "/xdg/autonet"),
        ("linux", {"XDG_CACHE_HOME": "relative"}, "~/.cache/autonet"),
        ("darwin", {"XDG_CACHE_HOME": "/xdg"}, "~/Library/Caches/autonet"),
        ("win32", {"LOCALAPPDATA": "/AppData/Local"}, "/AppData/Local/autonet/Cache"),
        ("win32", {}, "~/AppData/Local/autonet/Cache"),
    ],
)
def test_the_cache_folder_follows_each_platforms_convention(monkeypatch, platform, env, expected):
    from autonet.data.download import default_cache_dir

    for name in ("XDG_CACHE_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert default_cache_dir(platform) == Path(os.path.expanduser(expected))


def _imports(package: Path) -> set[str]:
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
    return found


def test_storage_and_data_do_not_import_each_other():
    """storage/ never imports data/; data/ uses only storage's two low readers, which import only errors."""
    storage, data = _imports(ROOT / "autonet" / "storage"), _imports(ROOT / "autonet" / "data")
    assert not [m for m in storage if m.startswith("autonet.data")]
    assert {m for m in data if m.startswith("autonet.storage")} <= {"autonet.storage.files", "autonet.storage.safe_npz"}
    for low in ("files.py", "safe_npz.py"):
        found = {m for m in _imports_of(ROOT / "autonet" / "storage" / low) if m.startswith("autonet")}
        assert found <= {"autonet.errors", "autonet.storage.files"}, (low, found)


def _imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


def test_a_training_run_works_without_fcntl_or_proc(tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    from fakedata import make_fake_cifar

    data = make_fake_cifar(tmp_path / "data", n_per_batch=20, with_test=True).parent
    done = run_python(
        """
        import sys, warnings
        from pathlib import Path
        sys.modules["fcntl"] = None
        import autonet.memory
        autonet.memory.PROC = autonet.memory.CGROUP = Path(sys.argv[2]) / "missing"
        from autonet.cli import main
        warnings.simplefilter("ignore")
        argv = ["train", "--data-dir", sys.argv[1], "--out", sys.argv[2] + "/run", "--hidden", "8", "--num-iters", "4"]
        sys.exit(main([*argv, "--batch-size", "10", "--num-val", "10", "--quiet"]))
        """,
        str(data),
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "model.npz").is_file() and (tmp_path / "run" / "summary.json").is_file()
