"""Load CIFAR-10 pickles without an unpickler: a bounded, allow-listed walk of the opcodes.

The batches are Python pickles, and a pickle is a program: it may name any
global and call it, and a few hundred bytes of plain opcodes are enough to
crash or stall an unpickler: a tuple nested 10**6 deep overflows the C stack
when hashed (segfault); a tuple or list that refers to itself through the memo
at every level is 2**k objects for k references (hashing never ends,
``np.asarray`` asks for 16 GB); ``numpy.ndarray((10**6, 10**6))`` or an
object array of a huge shape allocates before anything can be checked.

A file is therefore read only if it is a regular file of bounded size
(:func:`~autonet.storage.files.read_regular_file`), and no unpickler ever sees
it: :class:`_Builder` takes the opcodes from :func:`pickletools.genops` --
which only parses -- and builds the objects itself, one opcode at a time,
refusing *before* each object exists:

* any opcode outside the allow-list of what CIFAR-10 batches (Python 2 and 3,
  protocols 0 to 5) actually contain: no persistent ids, extension codes,
  ``INST``/``OBJ``/``NEWOBJ``, out-of-band buffers, sets or ``DUP``;
* any global but the few that numpy array reconstruction needs;
* containers nested deeper than :data:`MAX_DEPTH`;
* a memo reference (``GET``/``BINGET``/``LONG_BINGET``) to a container or an
  array. The official files never share containers; strings, numbers, globals
  and dtypes may be shared because they cannot grow anything;
* dict keys that are not strings, bytes or numbers;
* calls other than array, dtype and latin-1 bytes reconstruction, with the
  argument shapes numpy's own pickles use: ``_reconstruct`` only ever with
  shape ``(0,)``, numeric dtypes only (no object, string or structured
  dtypes), and arrays of at most one element per byte of the file, all arrays
  together (a Python 2 string shared through the memo is copied into each);
* more than :data:`MAX_OPCODES` opcodes and integers wider than 64 bits.

Every opcode builds at most one object of bounded size and no object is
reachable twice, so memory is linear in the file size -- and the file size is
capped. This keeps every flavour the project reads (Python 2 byte-string
pickles, Python 3 protocols 0 to 5, arrays written by numpy 1 or 2) with one
small rule set. What the file holds is then validated as a batch or a meta
file. A tampered file raises :class:`~autonet.errors.DataError` instead of
running code, crashing, hanging or exhausting memory.
"""

from __future__ import annotations

import codecs
import math
import os
import pickletools
import reprlib
from pathlib import Path
from typing import Any

import numpy as np

from autonet.errors import DataError
from autonet.images import IMAGE_SHAPE
from autonet.storage.files import read_regular_file

try:
    from numpy._core.multiarray import _reconstruct  # numpy >= 2
    from numpy._core.numeric import _frombuffer  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]

IMAGE_SIZE = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]  # values in a CIFAR-10 row
CLASS_COUNT = 10
MAX_BATCH_BYTES = 256 << 20  # an official batch is 31 MB; room for protocol 0 and larger test batches
MAX_META_BYTES = 1 << 20  # the official batches.meta is 158 bytes
MAX_DEPTH = 8  # an official batch nests 5 deep: dict > array > state tuple > dtype > its state tuple
MAX_OPCODES = 1_000_000  # an official batch has about 40,000
MAX_INT_BITS = 64


class _Refused(Exception):
    """Internal: the stream breaks a rule (message without the path)."""


class _GlobalRefused(Exception):
    """Internal: a global outside the allow-list; args (module, name)."""


def _latin1_encode(text: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
    """``_codecs.encode`` restricted to latin-1 text -> bytes, the only use Python 3's pickles make of it."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1" or errors != "strict":
        raise _Refused(f"refused _codecs.encode({type(text).__name__}, {encoding!r}, {errors!r})")
    return text.encode("latin-1")


# the only globals a pickle may name (Python 2 and numpy 1 spellings too): the objects, never imported by name
_GLOBALS: dict[tuple[str, str], Any] = {
    **dict.fromkeys(
        [("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")], _reconstruct
    ),
    **dict.fromkeys([("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")], _frombuffer),
    **dict.fromkeys([("__builtin__", "bytes"), ("builtins", "bytes")], bytes),  # b"" in protocols 0-2: bytes()
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,  # bytes in protocols 0-2: _codecs.encode(text, "latin1")
}
_SCALAR_CALLS = {np.dtype: "dtype", bytes: "bytes", _latin1_encode: "_codecs.encode"}  # called with scalars only
_NUMERIC_DTYPES = frozenset(
    f"{k}{n}" for k, sizes in (("b", "1"), ("i", "1248"), ("u", "1248"), ("f", "248")) for n in sizes
)
# numpy writes (3, byte order, None, None, None, -1, -1, 0) for a plain dtype; other flags, sizes or
# fields make a dtype numpy's own code cannot handle (SystemError)
_PLAIN_DTYPE_STATES = [[3, order, None, None, None, -1, -1, 0, *end] for order in "<>|=" for end in ([], [None])]

_SCALARS = (str, bytes, int, float, type(None))
_SCALAR_OPS = frozenset(
    "NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1 LONG4 FLOAT BINFLOAT STRING BINSTRING SHORT_BINSTRING "
    "BINBYTES SHORT_BINBYTES BINBYTES8 BYTEARRAY8 UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8".split()
)
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}  # genops gives no argument for these
_EMPTY = {"EMPTY_LIST": list, "EMPTY_DICT": dict, "EMPTY_TUPLE": tuple}
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_CONTAINERS = (list, tuple, dict, np.ndarray)  # never shared through the memo
_NESTED = (*_CONTAINERS, np.dtype)  # their nesting depth is tracked


def _kind(value: Any) -> str:
    """What ``value`` is, in a message."""
    return (
        "array" if isinstance(value, np.ndarray) else "dtype" if isinstance(value, np.dtype) else type(value).__name__
    )


def _shape(value: Any) -> tuple[int, ...]:
    """``value`` if it is an array shape: a tuple of non-negative integers."""
    if not isinstance(value, tuple) or any(type(d) is not int or d < 0 for d in value):
        raise _Refused("an array shape that is not a tuple of non-negative integers")
    return value


class _Builder:
    """The unpickler's stack machine for the opcodes CIFAR-10 files use, every step bounded."""

    def __init__(self, size: int) -> None:
        self.size = size  # of the file: the budget of array elements
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []  # the stacks MARK set aside
        self.memo: dict[int, Any] = {}
        self.depths: dict[int, int] = {}  # id of a container -> containers between it and its deepest leaf
        self.elements = 0  # array elements declared so far

    def depth(self, value: Any) -> int:
        return self.depths[id(value)] if isinstance(value, _NESTED) else 0

    def grow(self, container: Any, children: list[Any]) -> None:
        depth = max(self.depths[id(container)], 1 + max(map(self.depth, children), default=0))
        if depth > MAX_DEPTH:
            raise _Refused(f"containers nested more than {MAX_DEPTH} deep; a CIFAR-10 file nests 5 deep")
        self.depths[id(container)] = depth

    def push(self, value: Any, children: Any = ()) -> None:
        """Push ``value`` just built; a container is one deeper than its deepest child."""
        if isinstance(value, _NESTED):
            self.depths[id(value)] = 0
            self.grow(value, list(children))
        self.stack.append(value)

    def pop(self, count: int) -> list[Any]:
        if len(self.stack) < count:
            raise _Refused("stack underflow")
        items = self.stack[-count:]
        del self.stack[-count:]
        return items

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise _Refused("no MARK on the stack")
        items, self.stack = self.stack, self.marks.pop()
        return items

    def top(self, kind: type, op: str, children: list[Any]) -> Any:
        """The ``kind`` container on top of the stack, grown by ``children``."""
        if not self.stack or type(self.stack[-1]) is not kind:
            found = _kind(self.stack[-1]) if self.stack else "nothing"
            raise _Refused(f"{op} applied to {found}, not a {kind.__name__}")
        self.grow(self.stack[-1], children)
        return self.stack[-1]

    def step(self, name: str, arg: Any) -> None:
        if name in _SCALAR_OPS:
            if isinstance(arg, int) and arg.bit_length() > MAX_INT_BITS:
                raise _Refused(f"an integer of {arg.bit_length()} bits (at most {MAX_INT_BITS})")
            self.push(_CONSTANTS.get(name, arg))
        elif name == "MARK":
            self.marks.append(self.stack)
            self.stack = []
        elif name == "POP" and self.stack:
            self.stack.pop()
        elif name in ("POP", "POP_MARK"):  # POP of an empty stack drops the MARK below it
            self.pop_mark()
        elif name in _EMPTY:
            self.push(_EMPTY[name]())
        elif name in ("TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "LIST"):
            items = self.pop_mark() if name in ("TUPLE", "LIST") else self.pop(int(name[-1]))
            self.push(items if name == "LIST" else tuple(items), items)
        elif name == "DICT":
            items = self.pop_mark()
            self.push(self.pairs(items), items)
        elif name in ("APPEND", "APPENDS"):
            items = self.pop(1) if name == "APPEND" else self.pop_mark()
            self.top(list, name, items).extend(items)
        elif name in ("SETITEM", "SETITEMS"):
            items = self.pop(2) if name == "SETITEM" else self.pop_mark()
            self.top(dict, name, items).update(self.pairs(items))
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            module, attr = str(arg).split(" ", 1) if name == "GLOBAL" else self.pop(2)
            if not isinstance(module, str) or not isinstance(attr, str):
                raise _Refused("STACK_GLOBAL with a module or name that is not a string")
            if (module, attr) not in _GLOBALS:
                raise _GlobalRefused(module, attr)
            self.push(_GLOBALS[module, attr])
        elif name == "REDUCE":
            func, args = self.pop(2)
            self.push(self.call(func, args), args)
        elif name == "BUILD":
            (state,) = self.pop(1)
            target = self.stack[-1] if self.stack else None
            if not isinstance(target, (np.ndarray, np.dtype)):
                raise _Refused(f"BUILD applied to {_kind(target) if self.stack else 'nothing'}")
            self.check_state(target, state)
            self.grow(target, [state])
            target.__setstate__(state)  # type: ignore[union-attr]  # numpy's stubs omit dtype's
        elif name in _PUT_OPS:
            if not self.stack:
                raise _Refused(f"{name} with nothing to memoize")
            index = len(self.memo) if name == "MEMOIZE" else int(arg)
            # the unpickler sizes its memo table by the largest index (twice it): a pickler numbers its
            # entries in order (from 0, or from 1 in Python 2), so a slot beyond the next one is a lie
            if not 0 <= index <= len(self.memo) + 1:
                raise _Refused(
                    f"{name} to memo slot {index:,} after {len(self.memo):,} entries; picklers number them in order"
                )
            self.memo[index] = self.stack[-1]
        elif name in _GET_OPS:
            if arg not in self.memo:
                raise _Refused(f"{name} of memo entry {arg}, which was never stored")
            value = self.memo[arg]
            if isinstance(value, _CONTAINERS):
                raise _Refused(
                    f"a second reference to the same {_kind(value)} ({name} {arg}); "
                    "CIFAR-10 files never share containers"
                )
            self.stack.append(value)
        elif name not in ("PROTO", "FRAME", "STOP"):
            raise _Refused(f"opcode {name}, which CIFAR-10 files never use")

    @staticmethod
    def pairs(items: list[Any]) -> dict:
        if len(items) % 2:
            raise _Refused("odd number of items for a dict")
        for key in items[::2]:
            if not isinstance(key, _SCALARS):
                raise _Refused(f"a dict key that is a {_kind(key)}; keys of a CIFAR-10 file are strings")
        return dict(zip(items[::2], items[1::2], strict=True))

    def call(self, func: Any, args: Any) -> Any:
        """``func(*args)``, for the calls numpy's pickles make and with the arguments they use."""
        if not any(func is f for f in _GLOBALS.values()) or type(args) is not tuple:
            raise _Refused(f"a call of a {_kind(func)} with {_kind(args)} arguments")
        if func is _reconstruct:
            # numpy pickles an array as _reconstruct(ndarray, (0,), b'b') and fills it with BUILD
            if len(args) != 3 or args[0] is not np.ndarray or any(_shape(args[1])):
                raise _Refused("_reconstruct called with other arguments than numpy writes (ndarray, (0,), ...)")
        elif func is _frombuffer:
            if len(args) != 4 or not isinstance(args[1], np.dtype):
                raise _Refused("_frombuffer called with other arguments than numpy writes")
            self.count(args[2])
        elif func is np.ndarray:
            raise _Refused("a call of numpy.ndarray")
        elif not all(isinstance(a, _SCALARS) for a in args):
            raise _Refused(f"{_SCALAR_CALLS[func]} called with non-scalar arguments")
        elif func is np.dtype and (not args or args[0] not in _NUMERIC_DTYPES):
            spec = args[0] if args else "?"
            raise _Refused(f"dtype {spec!r}; CIFAR-10 arrays hold numbers (bool, int, uint or float)")
        elif func is bytes and args:
            raise _Refused("bytes called with arguments; only bytes() (empty) is written by pickle")
        return func(*args)

    def count(self, shape: Any) -> None:
        """Add the elements of an array of ``shape`` to the file's budget."""
        self.elements += math.prod(_shape(shape))  # all arrays together: one shared string can fill many
        if self.elements > self.size:
            raise _Refused(f"arrays of {self.elements:,} elements in all, in a file of {self.size:,} bytes")

    def check_state(self, target: np.ndarray | np.dtype, state: Any) -> None:
        if isinstance(target, np.ndarray):
            # (version, shape, dtype, is_fortran, raw bytes)
            if type(state) is not tuple or len(state) != 5 or not isinstance(state[2], np.dtype):
                raise _Refused("an array state unlike numpy's (version, shape, dtype, fortran, data)")
            self.count(state[1])
        elif (
            type(state) is not tuple
            or not all(isinstance(i, _SCALARS) for i in state)
            or list(state) not in _PLAIN_DTYPE_STATES
        ):
            raise _Refused("a dtype state unlike numpy's for a plain number (3, '<', None, None, None, -1, -1, 0)")


def _unpickle(path: Path, max_bytes: int) -> Any:
    """The object the pickle file ``path`` (at most ``max_bytes``) holds, built by :class:`_Builder`."""
    if not os.path.lexists(path):
        raise DataError(f"{path}: file is missing")
    blob = read_regular_file(path, max_bytes, "CIFAR-10 file", DataError)
    builder = _Builder(len(blob))
    pos: int | None = 0
    try:
        for count, (op, arg, pos) in enumerate(pickletools.genops(blob)):  # noqa: B007 (pos: after the loop)
            if count >= MAX_OPCODES:
                raise _Refused(f"more than {MAX_OPCODES:,} opcodes (a CIFAR-10 batch has about 40,000)")
            builder.step(op.name, arg)
    except _GlobalRefused as g:
        raise DataError(
            f"{path}: refused to unpickle global {'.'.join(g.args)[:200]}; a CIFAR-10 batch "
            "only contains numpy arrays, lists and strings (file corrupt or malicious?)"
        ) from None
    except _Refused as r:
        raise DataError(f"{path}: refused at byte {pos}: {r} (file corrupt or malicious?)") from None
    except (ValueError, UnicodeDecodeError, OverflowError) as e:  # genops: truncated or unknown opcodes
        raise DataError(f"{path}: not a valid pickle (truncated or corrupt): {str(e)[:200]}") from None
    except Exception as e:  # a stream shape the rules above did not foresee: refuse it rather than load it
        raise DataError(
            f"{path}: refused at byte {pos}: malformed opcode stream ({type(e).__name__}: "
            f"{str(e)[:100]}) (file corrupt or malicious?)"
        ) from None
    if builder.marks or len(builder.stack) != 1:
        raise DataError(
            f"{path}: not a valid pickle (truncated or corrupt): {len(builder.stack)} objects left on the stack at STOP"
        )
    return builder.stack[0]


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 60
_SHORT_REPR.maxlist = _SHORT_REPR.maxtuple = _SHORT_REPR.maxdict = 4
_SHORT_REPR.maxlevel = 2
_brief = _SHORT_REPR.repr  # a bounded description of a value for a one-line message, whatever its size


def _normalise_keys(obj: Any, path: Path) -> dict[str, Any]:
    """Python 2 pickles have byte-string keys, Python 3 ones str keys: return str keys."""
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict, found {type(obj).__name__}")
    out = {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    odd = next((k for k in out if not isinstance(k, str)), None)
    if odd is not None:
        raise DataError(f"{path}: a key that is a {type(odd).__name__}, not a string: {_brief(odd)}")
    return out


def _check_pixels(data: Any, path: Path) -> np.ndarray:
    if not isinstance(data, np.ndarray):
        raise DataError(f"{path}: 'data' should be a numpy array, found {type(data).__name__}")
    if data.ndim != 2 or data.shape[1] != IMAGE_SIZE:
        raise DataError(f"{path}: 'data' should have shape (N, {IMAGE_SIZE}), found {data.shape}")
    if data.shape[0] == 0:
        raise DataError(f"{path}: 'data' holds no images")
    if data.dtype == np.uint8:
        return data
    if data.dtype.kind not in "ui":
        raise DataError(f"{path}: 'data' should hold uint8 pixels, found dtype {data.dtype}")
    if data.min() < 0 or data.max() > 255:
        raise DataError(f"{path}: pixel values outside [0, 255] (dtype {data.dtype})")
    return data.astype(np.uint8)


def _check_labels(labels: Any, n: int, path: Path) -> np.ndarray:
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise DataError(f"{path}: 'labels' should be a list, found {type(labels).__name__}")
    if len(labels) != n:
        raise DataError(f"{path}: {len(labels)} labels for {n} images")
    if not isinstance(labels, np.ndarray):
        # np.asarray sizes a string array by its longest element: vet element types first
        odd = next((v for v in labels if not isinstance(v, (int, np.integer)) or isinstance(v, bool)), None)
        if odd is not None:
            raise DataError(f"{path}: 'labels' should be integers, found a {type(odd).__name__}: {_brief(odd)}")
    arr = np.asarray(labels)  # integers of at most 64 bits (the walk refuses wider ones): cannot fail
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataError(f"{path}: labels of shape {arr.shape} for {n} images")
    if arr.dtype.kind not in "ui":  # also refuses bools, floats and mixed lists (object)
        raise DataError(f"{path}: 'labels' should be integers, found dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= CLASS_COUNT:
        raise DataError(f"{path}: labels outside [0, {CLASS_COUNT}): min {arr.min()}, max {arr.max()}")
    return arr.astype(np.int64)


def load_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load and validate one CIFAR-10 batch file (``data_batch_i`` or ``test_batch``).

    Parameters
    ----------
    path : path-like
        The batch pickle (Python 2 or Python 3 flavour).

    Returns
    -------
    X : np.ndarray of uint8, shape (N, 3072)
        Raw rows in the official order: the red, green and blue 32x32 planes
        (CHW), *not* the HWC order used by :func:`load_cifar10`.
    y : np.ndarray of int64, shape (N,)
        Labels in ``[0, 10)``.

    Raises
    ------
    DataError
        Missing, truncated, malformed or unsafe file; the message names the path.
    """
    path = Path(path)
    batch = _normalise_keys(_unpickle(path, MAX_BATCH_BYTES), path)
    for key in ("data", "labels"):
        if key not in batch:
            raise DataError(f"{path}: no {key!r} entry (keys: {_brief(sorted(batch))})")
    X = _check_pixels(batch["data"], path)
    y = _check_labels(batch["labels"], X.shape[0], path)
    return X, y


def load_class_names(path: Path) -> list[str]:
    meta = _normalise_keys(_unpickle(path, MAX_META_BYTES), path)
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) != CLASS_COUNT:
        raise DataError(f"{path}: 'label_names' should be a list of {CLASS_COUNT} names")
    out = [n.decode("utf-8", errors="replace") if isinstance(n, bytes) else n for n in names]
    for i, name in enumerate(out):
        if not isinstance(name, str):
            raise DataError(f"{path}: class name {i} is a {type(name).__name__}, not a string: {_brief(name)}")
    return out
