"""A statement's result, kept as the COLUMN_BATCH frames it came in (docs/protocol.md): rows
as tuples or dicts are built on first use, and fetch_numpy() makes numpy arrays straight from
the frames' bytes (numpy.frombuffer; no Python object per value but for TEXT)."""

import struct
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from .errors import malformed

try:  # numpy is optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised when numpy is absent
    _np = None

_RAGGED = 0xFFFFFFFF
# Fixed-size column types: struct code and bytes per value (NULL slots hold zeros).
_FIXED = {"BIGINT": ("q", 8), "FLOAT": ("d", 8), "BOOL": ("?", 1)}
_DTYPES = {"BIGINT": "<i8", "FLOAT": "<f8", "BOOL": "u1"}


class _Column:
    """One column of one COLUMN_BATCH: views of its parts in the frame."""
    __slots__ = ("type", "n", "nulls", "data", "ends", "dim", "dims")

    def __init__(self, type_: str, n: int) -> None:
        self.type = type_
        self.n = n
        self.nulls: Optional[memoryview] = None  # one byte per row, 1 = NULL
        self.data = memoryview(b"")
        self.ends: Optional[memoryview] = None   # TEXT: u32 end offsets
        self.dim: Optional[int] = None           # VECTOR: one dimension, or None: per row
        self.dims: Optional[memoryview] = None   # VECTOR: u32 per row


Batch = Tuple[int, List[_Column]]


def parse_column_batch(payload: memoryview, types: Sequence[str]) -> Batch:
    """(row count, columns) of a COLUMN_BATCH payload; every length checked against it."""
    pos = 0

    def take(k: int) -> memoryview:
        nonlocal pos
        if k < 0 or pos + k > len(payload):
            raise malformed("a COLUMN_BATCH field runs past the frame's end")
        view = payload[pos:pos + k]
        pos += k
        return view

    def u32() -> int:
        return struct.unpack("<I", take(4))[0]

    n = u32()
    if not types and n:
        raise malformed("COLUMN_BATCH rows in a result without columns")
    columns = []
    for t in types:
        c = _Column(t, n)
        flag = take(1)[0]
        if flag > 1:
            raise malformed("COLUMN_BATCH null flag %d" % flag)
        if flag:
            c.nulls = take(n)
        if t in _FIXED:
            c.data = take(_FIXED[t][1] * n)
        elif t == "TEXT":
            c.ends = take(4 * n)
            c.data = take(struct.unpack_from("<I", c.ends, 4 * (n - 1))[0] if n else 0)
        elif t == "VECTOR":
            dim = u32()
            if dim == _RAGGED:
                c.dims = take(4 * n)
                c.data = take(4 * sum(struct.unpack("<%dI" % n, c.dims)))
            elif dim == 0:
                raise malformed("COLUMN_BATCH vector dimension 0")
            else:
                c.dim = dim
                c.data = take(4 * dim * n)
        else:
            raise malformed("column type %s" % t)
        columns.append(c)
    if pos != len(payload):
        raise malformed("%d bytes left over in a COLUMN_BATCH" % (len(payload) - pos))
    return n, columns


def _values(c: _Column, numpy_vectors: bool) -> List[Any]:
    """The column's values as Python objects (None for NULL)."""
    n = c.n
    if c.type in _FIXED:
        values: List[Any] = list(struct.unpack("<%d%s" % (n, _FIXED[c.type][0]), c.data))
    elif c.type == "TEXT":
        data, start, values = bytes(c.data), 0, []
        for end in struct.unpack("<%dI" % n, c.ends):
            values.append(data[start:end].decode("utf-8", errors="replace"))
            start = end
    else:
        dims = [c.dim] * n if c.dim else list(struct.unpack("<%dI" % n, c.dims))
        if numpy_vectors and _np is not None:
            flat = _np.frombuffer(c.data, dtype="<f4").copy()  # one copy; rows are views of it
        else:
            flat = struct.unpack("<%df" % (len(c.data) // 4), c.data)
        values, start = [], 0
        for d in dims:
            row = flat[start:start + d]
            values.append(row if numpy_vectors and _np is not None else list(row))
            start += d
    if c.nulls is not None:
        values = [None if null else v for null, v in zip(c.nulls, values)]
    return values


def _array(t: str, parts: List[_Column]) -> Any:
    """One column over all batches as a numpy array (see Result.fetch_numpy)."""
    if t == "TEXT" or (t == "VECTOR" and any(p.dim is None or p.dim != parts[0].dim for p in parts)):
        out = _np.empty(sum(p.n for p in parts), dtype=object)
        out[:] = [v for p in parts for v in _values(p, True)]
        return out
    if t == "VECTOR":
        dim = parts[0].dim if parts else 0
        return _np.concatenate([_np.frombuffer(p.data, dtype="<f4").reshape(p.n, dim) for p in parts]
                               or [_np.empty((0, dim), dtype=_np.float32)]).astype(_np.float32, copy=False)
    dtype = _DTYPES[t]
    arr = _np.concatenate([_np.frombuffer(p.data, dtype=dtype) for p in parts]
                          or [_np.empty(0, dtype=dtype)])
    arr = arr.astype(bool if t == "BOOL" else arr.dtype.newbyteorder("="), copy=False)
    if any(p.nulls is not None for p in parts):
        mask = _np.concatenate([_np.frombuffer(p.nulls, dtype="u1") if p.nulls is not None
                                else _np.zeros(p.n, dtype="u1") for p in parts]).astype(bool)
        return _np.ma.MaskedArray(arr, mask=mask)
    return arr


class Result:
    """A statement's result: `columns` (names), `types` (BIGINT, FLOAT, BOOL, TEXT, VECTOR),
    `rows` (tuples), the command `tag` ("SELECT 3", "INSERT 2" ...) and `rows_affected`."""

    def __init__(self, columns: List[str], types: List[str], batches: List[Batch], tag: str,
                 rows_affected: int, numpy_vectors: bool = False) -> None:
        self.columns = columns
        self.types = types
        self.tag = tag
        self.rows_affected = rows_affected
        self._batches = batches
        self._numpy_vectors = numpy_vectors
        self._rows: Optional[List[Tuple[Any, ...]]] = None

    @property
    def rows(self) -> List[Tuple[Any, ...]]:
        """The rows as tuples in column order; vectors as lists of floats (float32 arrays with
        numpy_vectors=True), NULL as None."""
        if self._rows is None:
            rows: List[Tuple[Any, ...]] = []
            for n, columns in self._batches:
                if n:
                    rows.extend(zip(*[_values(c, self._numpy_vectors) for c in columns]))
            self._rows = rows
        return self._rows

    def dicts(self) -> List[Dict[str, Any]]:
        """The rows as dicts keyed by column name."""
        return [dict(zip(self.columns, r)) for r in self.rows]

    def fetch_numpy(self) -> Dict[str, Any]:
        """The columns as numpy arrays, by name, decoded from the frames' bytes without a Python
        object per value: BIGINT int64, FLOAT float64, BOOL bool, VECTOR float32 of shape
        (rows, dim), TEXT an object array of str. A column with NULLs is a numpy.ma.MaskedArray
        (TEXT: None entries); vectors of differing dimensions or with NULLs come as an object
        array of float32 arrays (None for NULL). A repeated column name keeps its last column.
        Raises ImportError without numpy."""
        if _np is None:
            raise ImportError("fetch_numpy() needs numpy, which is not installed (pip install numpy)")
        return {name: _array(t, [cols[j] for n, cols in self._batches if n])
                for j, (name, t) in enumerate(zip(self.columns, self.types))}

    def to_numpy(self) -> Dict[str, Any]:
        """fetch_numpy() (numpy's name for it)."""
        return self.fetch_numpy()

    def to_pandas(self) -> Any:
        """The result as a pandas DataFrame (vectors: a column of float32 arrays). Raises
        ImportError when pandas is not installed; fetch_numpy() needs only numpy."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas, which is not installed (pip install "
                              "pandas); fetch_numpy() gives the columns as numpy arrays") from None
        columns = self.fetch_numpy()
        return pd.DataFrame({name: list(a) if a.ndim == 2 else a for name, a in columns.items()},
                            columns=list(columns))

    def __iter__(self) -> Iterator[Tuple[Any, ...]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return sum(n for n, _ in self._batches)

    def __repr__(self) -> str:
        return "Result(tag=%r, columns=%r, rows=%d)" % (self.tag, self.columns, len(self))
