"""Find a class's submissions: one file or folder per student, a CSV naming them, or a glob.

A submission is read into memory (bounded; symbolic links are skipped, so it
cannot pull in another student's files, and so are compiled extension modules), its file to check is chosen (a
``neural_net.py`` in any layout such as ``cs231n/classifiers/``, else a
``layers.py``, else its only ``.py``, else a notebook), and a notebook is
reduced to the definitions of its code cells (imports, functions, classes)
without running anything else. Its key is the hash of what is checked, so a
re-run grades only what is new or changed.
"""

from __future__ import annotations

import ast
import csv
import glob
import hashlib
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autonet.errors import ConfigError

MAX_FILES = 500
MAX_BYTES = 20 << 20  # per submission
SKIP = {"__pycache__", ".git", ".ipynb_checkpoints", ".DS_Store"}
NATIVE = re.compile(r"\.(so|pyd|dylib|dll)(\.|$)")  # compiled code would run outside the audit hook: never copied
KINDS = (".py", ".ipynb")
DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class Submission:
    """One student's work, as the checker will see it.

    Attributes
    ----------
    id : the student's name for reports (file stem or folder name)
    files : relative path -> content, the copy that is checked
    target : the relative path of the file to check
    error : why it cannot be checked ("" when it can)
    source : where it was read from
    """

    id: str
    files: dict[str, bytes] = field(default_factory=dict)
    target: str = ""
    error: str = ""
    source: str = ""

    @property
    def key(self) -> str:
        h = hashlib.sha256(self.target.encode() + b"\0" + self.error.encode())
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return h.hexdigest()

    @property
    def part(self) -> str:
        """``"layers"`` for a layers.py, else ``"net"`` (which rubric items apply when nothing could run)."""
        return "layers" if Path(self.target).name == "layers.py" else "net"


def find_submissions(source: str) -> list[Submission]:
    """The submissions ``source`` names: a folder of them, a CSV (columns ``id``, ``path``), a glob, or one file.

    Raises
    ------
    ConfigError
        ``source`` does not exist, names none, or two share an id.
    """
    path = Path(source)
    if path.suffix == ".csv" and path.is_file():
        entries = _from_csv(path)
    elif path.suffix in KINDS and path.is_file():
        entries = [(path.stem, path)]
    elif path.is_dir() or any(c in source for c in "*?["):
        found = sorted(path.iterdir()) if path.is_dir() else map(Path, sorted(glob.glob(source)))
        entries = [(p.stem if p.is_file() else p.name, p) for p in found if _wanted(p)]
    else:
        raise ConfigError(
            f"no such folder, CSV or glob: {source} (give a folder holding one file or folder per student)"
        )
    if not entries:
        raise ConfigError(f"{source} holds no submissions (.py or .ipynb files, or folders)")
    ids = [re.sub(r"[^\w.-]", "_", i.strip())[:100].strip(".") or "_" for i, _ in entries]  # safe as file names
    if repeated := sorted({i for i in ids if ids.count(i) > 1}):
        raise ConfigError(f"{source}: two submissions have the id {repeated[0]!r}; rename one")
    return [read_submission(p, i) for i, (_, p) in zip(ids, entries, strict=True)]


def _wanted(p: Path) -> bool:
    hidden = p.name.startswith(".") or p.name in SKIP or p.is_symlink()
    return not hidden and (p.is_dir() or p.suffix in KINDS)


def _from_csv(path: Path) -> list[tuple[str, Path]]:
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    except (UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"{path}: not a readable CSV ({e})") from None
    if not rows or not {"id", "path"} <= set(rows[0]):
        raise ConfigError(f"{path}: expected a header with the columns id and path")
    out = []
    for n, row in enumerate(rows, 2):
        if not row["id"] or not row["path"]:
            raise ConfigError(f"{path} line {n}: empty id or path")
        target = (path.parent / row["path"]).expanduser()
        if not target.exists():
            raise ConfigError(f"{path} line {n}: no such file or folder: {row['path']}")
        out.append((row["id"], target))
    return out


def read_submission(path: Path, id: str) -> Submission:
    """Read one file or folder into a :class:`Submission` (an ``error`` instead of raising)."""
    sub = Submission(id, source=str(path))
    try:
        if path.is_file() and path.stat().st_size > MAX_BYTES:
            raise ValueError(f"{path.name} is larger than {MAX_BYTES >> 20} MB")
        sub.files = {path.name: path.read_bytes()} if path.is_file() else _read_folder(path)
        sub.target = _choose(sub)  # ValueError: nothing to check
    except (OSError, ValueError) as e:
        sub.error = str(e)
    return sub


def _read_folder(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    stack = [folder]
    while stack:
        for p in sorted(stack.pop().iterdir()):
            if p.name in SKIP or p.is_symlink() or NATIVE.search(p.name):
                continue
            if p.is_dir():
                stack.append(p)
            elif p.is_file():
                total += p.stat().st_size
                if len(files) >= MAX_FILES or total > MAX_BYTES:
                    raise ValueError(f"the submission holds more than {MAX_FILES} files or {MAX_BYTES >> 20} MB")
                files[p.relative_to(folder).as_posix()] = p.read_bytes()
    return files


def _choose(sub: Submission) -> str:
    """The file to check; a notebook's definitions are added to ``sub.files`` as a .py file."""
    py = [n for n in sub.files if n.endswith(".py")]
    for wanted in ("neural_net.py", "layers.py"):
        if hits := sorted((n for n in py if Path(n).name == wanted), key=lambda n: n.count("/")):
            return hits[0]
    classes = [n for n in py if re.search(rb"^class TwoLayerNet\b", sub.files[n], re.M)]
    if len(py) == 1 or classes:  # the only .py file, else the first defining the exercise's class
        return _importable(sub, (py if len(py) == 1 else classes)[0])
    if notebooks := sorted(n for n in sub.files if n.endswith(".ipynb")):
        name = _module_name(Path(notebooks[0]).stem) + ".py"
        sub.files[name] = notebook_definitions(sub.files[notebooks[0]])
        return name
    raise ValueError("found no neural_net.py, layers.py, single .py file or notebook to check")


def _importable(sub: Submission, name: str) -> str:
    """A top-level file whose name is not a module name (``my net.py``, ``random.py``) is checked under another."""
    if "/" in name or _module_name(Path(name).stem) == Path(name).stem:
        return name
    new = _module_name(Path(name).stem) + ".py"
    sub.files[new] = sub.files.pop(name)
    return new


def _module_name(stem: str) -> str:
    taken = set(sys.stdlib_module_names) | {"autonet", "manual", "numpy"}
    ok = stem.isidentifier() and stem not in taken and stem not in sys.builtin_module_names
    return stem if ok else "submission_" + re.sub(r"\W", "_", stem)


def notebook_definitions(data: bytes) -> bytes:
    """The imports, functions and classes of a notebook's code cells, as Python source; nothing else runs.

    Raises ValueError when ``data`` is not a notebook.
    """
    try:
        cells = json.loads(data)["cells"]
        sources = [
            "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells
            if c.get("cell_type") == "code"
        ]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise ValueError("the notebook is not valid .ipynb JSON") from None
    out = []
    for n, source in enumerate(sources, 1):
        lines = ["# " + line if line.lstrip().startswith(("%", "!")) else line for line in str(source).splitlines()]
        try:
            tree = ast.parse("\n".join(lines))
        except (SyntaxError, ValueError, RecursionError):
            continue  # a cell that is not Python defines nothing
        for node in tree.body:
            if isinstance(node, DEFINITIONS):
                first = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
                out.append(f"# code cell {n}, line {first}\n" + "\n".join(lines[first - 1 : node.end_lineno]))
    return ("\n\n".join(out) + "\n").encode()
