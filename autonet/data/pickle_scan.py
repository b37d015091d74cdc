"""Vet a CIFAR-10 pickle's opcode stream before anything in it is built.

The restricted unpickler in :mod:`autonet.data.safe_pickle` limits *which*
globals a pickle may name. It does not limit *how much structure* the stream
builds, and a few hundred bytes of plain opcodes are enough to crash or stall
the process: a tuple nested 10**6 deep overflows the C stack when hashed
(segfault); a tuple or list that refers to itself through the memo at every
level is 2**k objects for k references (hashing never ends, ``np.asarray``
asks for 16 GB); ``numpy.ndarray((10**6, 10**6))`` or an object array of a
huge shape allocates before anything can be checked.

:func:`scan_pickle` therefore walks the opcodes with :func:`pickletools.genops`
-- which only parses, it builds nothing -- and simulates the unpickler's stack
with small placeholder nodes, refusing, before a single object exists:

* any opcode outside the allow-list of what CIFAR-10 batches (Python 2 and 3,
  protocols 0 to 5) actually contain: no persistent ids, extension codes,
  ``INST``/``OBJ``/``NEWOBJ``, out-of-band buffers, sets or ``DUP``;
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
reachable twice, so what the unpickler builds afterwards is linear in the file
size -- and the file size is capped by the caller. This was chosen over a
hand-written parser for exactly the official batch layout because it keeps
every flavour the project already reads (Python 2 byte-string pickles, Python
3 protocols 0 to 5, arrays written by numpy 1 or 2) with one small rule set,
and leaves the unpickler in charge of the details of each opcode.
"""

from __future__ import annotations

import io
import math
import pickletools
from pathlib import Path
from typing import Any

from autonet.errors import DataError

MAX_DEPTH = 8  # an official batch nests 5 deep: dict > array > state tuple > dtype > its state tuple
MAX_OPCODES = 1_000_000  # an official batch has about 40,000
MAX_INT_BITS = 64

_SHAREABLE = frozenset({"scalar", "global", "dtype"})

RECONSTRUCT = frozenset({("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")})
FROMBUFFER = frozenset({("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")})
NDARRAY = ("numpy", "ndarray")
DTYPE = ("numpy", "dtype")
ENCODE = ("_codecs", "encode")
BYTES = frozenset({("__builtin__", "bytes"), ("builtins", "bytes")})  # b"" in protocols 0-2: bytes()
_GLOBALS = RECONSTRUCT | FROMBUFFER | BYTES | {NDARRAY, DTYPE, ENCODE}
_NUMERIC_DTYPES = frozenset(
    f"{k}{n}" for k, sizes in (("b", "1"), ("i", "1248"), ("u", "1248"), ("f", "248")) for n in sizes
)

_SCALAR_OPS = frozenset(
    "NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1 LONG4 FLOAT BINFLOAT STRING BINSTRING SHORT_BINSTRING "
    "BINBYTES SHORT_BINBYTES BINBYTES8 BYTEARRAY8 UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8".split()
)
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})


class _Node:
    """What the unpickler would have on its stack, without building it."""

    __slots__ = ("kind", "depth", "value", "items")

    def __init__(self, kind: str, depth: int = 0, value: Any = None, items: list | None = None) -> None:
        self.kind = kind  # scalar, global, list, tuple, dict, array, dtype, mark
        self.depth = depth  # containers between this node and its deepest leaf
        self.value = value  # scalars: the value (short strings and numbers); globals: (module, name)
        self.items = items  # tuples: the element nodes (needed to vet call arguments)


_MARK = _Node("mark")


class _Refused(Exception):
    """Internal: the stream breaks a rule (message without the path)."""


class _Scanner:
    def __init__(self, size: int) -> None:
        self.size = size
        self.stack: list[_Node] = []
        self.memo: dict[int, _Node] = {}
        self.elements = 0  # array elements declared so far

    # ----- stack helpers -----

    def push(self, node: _Node) -> None:
        if node.depth > MAX_DEPTH:
            raise _Refused(f"containers nested more than {MAX_DEPTH} deep; a CIFAR-10 file nests 5 deep")
        self.stack.append(node)

    def pop(self) -> _Node:
        if not self.stack or self.stack[-1] is _MARK:
            raise _Refused("stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[_Node]:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i] is _MARK:
                items = self.stack[i + 1 :]
                del self.stack[i:]
                return items
        raise _Refused("no MARK on the stack")

    def top(self, kind: str, op: str) -> _Node:
        if not self.stack or self.stack[-1].kind != kind:
            found = self.stack[-1].kind if self.stack else "nothing"
            raise _Refused(f"{op} applied to {found}, not a {kind}")
        return self.stack[-1]

    @staticmethod
    def depth_of(children: list[_Node]) -> int:
        return 1 + max((c.depth for c in children), default=0)

    def grow(self, container: _Node, children: list[_Node]) -> None:
        container.depth = max(container.depth, self.depth_of(children))
        if container.depth > MAX_DEPTH:
            raise _Refused(f"containers nested more than {MAX_DEPTH} deep; a CIFAR-10 file nests 5 deep")

    # ----- one opcode -----

    def step(self, name: str, arg: Any) -> None:
        if name in _SCALAR_OPS:
            if isinstance(arg, int) and not isinstance(arg, bool) and arg.bit_length() > MAX_INT_BITS:
                raise _Refused(f"an integer of {arg.bit_length()} bits (at most {MAX_INT_BITS})")
            value = arg if not isinstance(arg, (str, bytes, bytearray)) or len(arg) <= 64 else None
            if name in ("NONE", "NEWTRUE", "NEWFALSE"):
                value = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name]
            self.push(_Node("scalar", value=value))
        elif name == "MARK":
            self.stack.append(_MARK)
        elif name == "POP":
            if not self.stack:
                raise _Refused("stack underflow")
            self.stack.pop()
        elif name == "POP_MARK":
            self.pop_mark()
        elif name in ("EMPTY_LIST", "EMPTY_DICT", "EMPTY_TUPLE"):
            kind = {"EMPTY_LIST": "list", "EMPTY_DICT": "dict", "EMPTY_TUPLE": "tuple"}[name]
            self.push(_Node(kind, 1, items=[] if kind == "tuple" else None))
        elif name in ("TUPLE", "TUPLE1", "TUPLE2", "TUPLE3"):
            items = self.pop_mark() if name == "TUPLE" else [self.pop() for _ in range(int(name[-1]))][::-1]
            self.push(_Node("tuple", self.depth_of(items), items=items))
        elif name == "LIST":
            items = self.pop_mark()
            self.push(_Node("list", self.depth_of(items)))
        elif name == "DICT":
            items = self.pop_mark()
            self.check_pairs(items)
            self.push(_Node("dict", self.depth_of(items)))
        elif name == "APPEND":
            item = self.pop()
            self.grow(self.top("list", name), [item])
        elif name == "APPENDS":
            items = self.pop_mark()
            self.grow(self.top("list", name), items)
        elif name in ("SETITEM", "SETITEMS"):
            items = [self.pop() for _ in range(2)][::-1] if name == "SETITEM" else self.pop_mark()
            self.check_pairs(items)
            self.grow(self.top("dict", name), items)
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            if name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
            else:
                attr_node, module_node = self.pop(), self.pop()
                module, attr = module_node.value, attr_node.value
                if not isinstance(module, str) or not isinstance(attr, str):
                    raise _Refused("STACK_GLOBAL with a module or name that is not a short string")
            if (module, attr) not in _GLOBALS:
                raise _Global(module, attr)
            self.push(_Node("global", value=(module, attr)))
        elif name == "REDUCE":
            args, func = self.pop(), self.pop()
            self.push(self.call(func, args))
        elif name == "BUILD":
            state = self.pop()
            target = self.stack[-1] if self.stack else None
            if target is None or target.kind not in ("array", "dtype"):
                raise _Refused(f"BUILD applied to {target.kind if target else 'nothing'}")
            self.check_state(target, state)
            self.grow(target, [state])
        elif name in _PUT_OPS:
            if not self.stack or self.stack[-1] is _MARK:
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
            node = self.memo.get(int(arg))
            if node is None:
                raise _Refused(f"{name} of memo entry {arg}, which was never stored")
            if node.kind not in _SHAREABLE:
                raise _Refused(
                    f"a second reference to the same {node.kind} ({name} {arg}); CIFAR-10 files never share containers"
                )
            self.push(node)
        elif name in ("PROTO", "FRAME", "STOP"):
            pass
        else:
            raise _Refused(f"opcode {name}, which CIFAR-10 files never use")

    @staticmethod
    def check_pairs(items: list[_Node]) -> None:
        if len(items) % 2:
            raise _Refused("odd number of items for a dict")
        for key in items[::2]:
            if key.kind != "scalar":
                raise _Refused(f"a dict key that is a {key.kind}; keys of a CIFAR-10 file are strings")

    def call(self, func: _Node, args: _Node) -> _Node:
        if func.kind != "global" or args.kind != "tuple" or args.items is None:
            raise _Refused(f"a call of a {func.kind} with {args.kind} arguments")
        target, items = func.value, args.items
        if target in RECONSTRUCT:
            # numpy pickles an array as _reconstruct(ndarray, (0,), b'b') and fills it with BUILD
            shape = items[1].items if len(items) == 3 and items[1].kind == "tuple" else None
            if (
                shape is None
                or items[0].kind != "global"
                or items[0].value != NDARRAY
                or any(s.kind != "scalar" or s.value != 0 for s in shape)
            ):
                raise _Refused("_reconstruct called with other arguments than numpy writes (ndarray, (0,), ...)")
            return _Node("array", 1)
        if target in FROMBUFFER:
            if len(items) != 4 or items[1].kind != "dtype":
                raise _Refused("_frombuffer called with other arguments than numpy writes")
            self.check_shape(items[2])
            return _Node("array", 1 + max(i.depth for i in items))
        if target == DTYPE:
            if not items or items[0].kind != "scalar" or items[0].value not in _NUMERIC_DTYPES:
                spec = items[0].value if items and items[0].kind == "scalar" else "?"
                raise _Refused(f"dtype {spec!r}; CIFAR-10 arrays hold numbers (bool, int, uint or float)")
            if any(i.kind != "scalar" for i in items):
                raise _Refused("dtype called with non-scalar arguments")
            return _Node("dtype", 1)
        if target in BYTES:
            if items:
                raise _Refused("bytes called with arguments; only bytes() (empty) is written by pickle")
            return _Node("scalar")
        if target == ENCODE:
            if any(i.kind != "scalar" for i in items):
                raise _Refused("_codecs.encode called with non-scalar arguments")
            return _Node("scalar")
        raise _Refused(f"a call of {'.'.join(target)}")

    def check_shape(self, shape: _Node) -> None:
        dims = shape.items if shape.kind == "tuple" else None
        if dims is None or any(d.kind != "scalar" or not isinstance(d.value, int) or d.value < 0 for d in dims):
            raise _Refused("an array shape that is not a tuple of non-negative integers")
        count = math.prod(d.value for d in dims)
        self.elements += count  # all arrays together: one shared string can fill many arrays, each a copy
        if self.elements > self.size:
            raise _Refused(f"arrays of {self.elements:,} elements in all, in a file of {self.size:,} bytes")

    def check_state(self, target: _Node, state: _Node) -> None:
        items = state.items if state.kind == "tuple" else None
        if target.kind == "array":
            # (version, shape, dtype, is_fortran, raw bytes or list)
            if items is None or len(items) != 5 or items[2].kind != "dtype":
                raise _Refused("an array state unlike numpy's (version, shape, dtype, fortran, data)")
            self.check_shape(items[1])
        elif (
            items is None
            or any(i.kind != "scalar" for i in items)
            or [i.value for i in items] not in [[3, order, *rest] for order in "<>|=" for rest in _PLAIN_DTYPE_STATES]
        ):
            # numpy writes (3, byte order, None, None, None, -1, -1, 0) for a plain dtype; other flags,
            # sizes or fields make a dtype numpy's own code cannot handle (SystemError)
            raise _Refused("a dtype state unlike numpy's for a plain number (3, '<', None, None, None, -1, -1, 0)")


_PLAIN_DTYPE_STATES = ([None, None, None, -1, -1, 0], [None, None, None, -1, -1, 0, None])


class _Global(Exception):
    """Internal: a global outside the allow-list; args (module, name)."""


def refusal(path: Path, module: str, name: str) -> str:
    """The one message for a global outside the allow-list (the scanner's and the unpickler's)."""
    return (
        f"{path}: refused to unpickle global {module}.{name}; a CIFAR-10 batch "
        "only contains numpy arrays, lists and strings (file corrupt or malicious?)"
    )


def scan_pickle(blob: bytes, path: Path) -> None:
    """Raise :class:`DataError` unless ``blob`` is a pickle safe to hand to the unpickler.

    Parameters
    ----------
    blob : the whole file
    path : named in messages

    Raises
    ------
    DataError
        ``{path}: refused to unpickle global posix.system; ...`` for a global
        outside the allow-list, ``{path}: refused at byte N: {rule} (file
        corrupt or malicious?)`` for a structure rule, and ``{path}: not a
        valid pickle (truncated or corrupt): ...`` when the opcodes do not parse.
    """
    scanner = _Scanner(len(blob))
    pos: int | None = 0
    try:
        for count, (op, arg, pos) in enumerate(pickletools.genops(io.BytesIO(blob))):  # noqa: B007 (pos: after the loop)
            if count >= MAX_OPCODES:
                raise _Refused(f"more than {MAX_OPCODES:,} opcodes (a CIFAR-10 batch has about 40,000)")
            scanner.step(op.name, arg)
    except _Global as g:
        raise DataError(refusal(path, *g.args)) from None
    except _Refused as r:
        raise DataError(f"{path}: refused at byte {pos}: {r} (file corrupt or malicious?)") from None
    except (ValueError, UnicodeDecodeError, OverflowError) as e:  # genops: truncated or unknown opcodes
        raise DataError(f"{path}: not a valid pickle (truncated or corrupt): {str(e)[:200]}") from None
    except Exception as e:  # a stream shape the rules above did not foresee: refuse it rather than load it
        raise DataError(
            f"{path}: refused at byte {pos}: malformed opcode stream ({type(e).__name__}: "
            f"{str(e)[:100]}) (file corrupt or malicious?)"
        ) from None
    if len(scanner.stack) != 1 or scanner.stack[0] is _MARK:
        raise DataError(
            f"{path}: not a valid pickle (truncated or corrupt): {len(scanner.stack)} objects left on the stack at STOP"
        )
