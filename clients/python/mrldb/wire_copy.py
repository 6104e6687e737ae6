"""copy_from and copy_to of Connection: COPY ... FROM STDIN / TO STDOUT (docs/protocol.md, "COPY
over the wire"). The server parses and writes the files (npy, fvecs, csv, jsonl) as its own
COPY does, so rows, batches and errors are the same; this side only moves bytes: a local file as
it is, or an array as .npy bytes (ids as text or .npy), or, with attributes, as jsonl."""

import json
import os
import struct
from typing import (Any, BinaryIO, Callable, Iterable, Iterator, Mapping, Optional, Sequence,
                    Tuple)

from .helpers import quote_name

try:  # numpy is optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised when numpy is absent
    _np = None

CHUNK = 1 << 20  # bytes per COPY_DATA frame
FORMATS = {"npy": "npy", "fvecs": "fvecs", "csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl"}
Progress = Optional[Callable[[int, Optional[int]], Any]]
Chunks = Callable[[], Iterable[Any]]  # yields bytes-like pieces


class CopySource:
    """What COPY ... FROM STDIN sends: the data part and, for npy and fvecs, the ids part."""

    def __init__(self, data: Chunks, ids: Optional[Chunks] = None) -> None:
        self.data = data
        self.ids = ids


class CopySink:
    """Where COPY ... TO STDOUT's parts go: write(bytes) of a file-like object each."""

    def __init__(self, data: BinaryIO, ids: Optional[BinaryIO] = None) -> None:
        self.data = data
        self.ids = ids


def _file_chunks(path: str) -> Chunks:
    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as f:
            while True:
                b = f.read(CHUNK)
                if not b:
                    return
                yield b
    return chunks


def _stream_chunks(f: BinaryIO) -> Chunks:
    return lambda: iter(lambda: f.read(CHUNK), b"")


def _slices(data: memoryview) -> Chunks:
    return lambda: (data[i:i + CHUNK] for i in range(0, len(data), CHUNK))


def npy_header(descr: str, shape: Tuple[int, ...]) -> bytes:
    """A version 1.0 .npy header for C-order data of this dtype and shape."""
    dims = "(%d,)" % shape[0] if len(shape) == 1 else "(%s)" % ", ".join(str(s) for s in shape)
    text = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, dims)
    text += " " * ((-(10 + len(text) + 1)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin-1")


def _format_of(path: Any, format: Optional[str]) -> str:
    if format is not None:
        if format.lower() not in FORMATS:
            raise ValueError("format %r is not one of npy, fvecs, csv, jsonl" % (format,))
        return FORMATS[format.lower()]
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else ""
    ext = os.path.splitext(name)[1][1:].lower()
    if ext not in FORMATS:
        raise ValueError("cannot tell the format of %r from its extension (.npy, .fvecs, .csv, "
                         ".jsonl): give format=..." % (name or path,))
    return FORMATS[ext]


def _default_ids(path: str) -> str:
    return os.path.splitext(path)[0] + ".ids.txt"


def _ids_source(ids: Any, n: Optional[int]) -> Chunks:
    """The ids part: a file (text, one per line, or .npy) sent as it is, or a sequence or array
    encoded as .npy (numpy integers or strings) or as text lines."""
    if isinstance(ids, (str, os.PathLike)):
        return _file_chunks(os.fspath(ids))
    if _np is not None and isinstance(ids, _np.ndarray):
        if ids.ndim != 1:
            raise ValueError("ids must be 1-d, not of shape %s" % (ids.shape,))
        if ids.dtype.kind in "iu":
            ids = ids.astype("<i8")
        elif ids.dtype.kind == "U":
            ids = ids.astype("<U%d" % max(1, ids.dtype.itemsize // 4))
        else:
            ids = ids.tolist()
    if _np is not None and isinstance(ids, _np.ndarray):
        if n is not None and len(ids) != n:
            raise ValueError("%d ids for %d vectors" % (len(ids), n))
        data = npy_header(ids.dtype.str, (len(ids),)) + _np.ascontiguousarray(ids).tobytes()
        return _slices(memoryview(data))
    if isinstance(ids, (str, bytes, int)):
        raise TypeError("ids must be a list of ids (for one id: [id])")
    lines = []
    for k in ids:
        text = str(int(k)) if isinstance(k, int) or (_np is not None and isinstance(k, _np.integer)) else k
        if not isinstance(text, str) or not text or "\n" in text or "\r" in text:
            raise ValueError("id %r cannot travel as a line of text (empty, a line break, or not "
                             "an int or str)" % (k,))
        lines.append(text)
    if n is not None and len(lines) != n:
        raise ValueError("%d ids for %d vectors" % (len(lines), n))
    data = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
    return _slices(memoryview(data))


def _vectors_npy(vectors: Any) -> Tuple[Chunks, int]:
    """An array or a list of vectors as .npy bytes (float32), and the row count."""
    if _np is not None and isinstance(vectors, _np.ndarray):
        if vectors.ndim != 2:
            raise ValueError("vectors must be 2-d (rows, dim), not of shape %s" % (vectors.shape,))
        arr = _np.ascontiguousarray(vectors, dtype="<f4")  # a copy only when not float32 already
        head = npy_header("<f4", arr.shape)
        body = memoryview(arr).cast("B") if arr.size else memoryview(b"")
        return (lambda: [head] + list(_slices(body)())), arr.shape[0]
    from .client import _floats  # (client imports this module)
    rows = list(vectors)
    dim = len(rows[0]) if rows else 1
    if any(len(r) != dim for r in rows):
        raise ValueError("vectors differ in length")
    per_chunk = max(1, CHUNK // (4 * dim))

    def chunks() -> Iterator[bytes]:
        yield npy_header("<f4", (len(rows), dim))
        for i in range(0, len(rows), per_chunk):
            yield _floats([x for r in rows[i:i + per_chunk] for x in r], "vectors")[0]
    return chunks, len(rows)


def _jsonl_rows(columns: Tuple[str, str], ids: Sequence[Any], vectors: Any,
                attributes: Mapping[str, Sequence[Any]]) -> Chunks:
    """Rows with attributes as jsonl (npy holds vectors only)."""
    def plain(v: Any) -> Any:
        return v.item() if _np is not None and isinstance(v, _np.generic) else v

    def chunks() -> Iterator[bytes]:
        out, size = [], 0
        for i, key in enumerate(ids):
            v = vectors[i]
            row = {columns[0]: plain(key),
                   columns[1]: v.tolist() if hasattr(v, "tolist") else [float(x) for x in v]}
            for name, values in attributes.items():
                row[name] = plain(values[i])
            line = json.dumps(row, ensure_ascii=False, allow_nan=True) + "\n"
            out.append(line)
            size += len(line)
            if size >= CHUNK:
                yield "".join(out).encode("utf-8")
                out, size = [], 0
        if out:
            yield "".join(out).encode("utf-8")
    return chunks


def _option_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "%s %s" % (key, "true" if value else "false")
    if isinstance(value, (int, float)):
        return "%s %r" % (key, value)
    return "%s '%s'" % (key, str(value).replace("'", "''"))


class CopyHelpers:
    """Mixed into Connection; uses its _run(), _columns_of()."""

    def copy_from(self, collection: str, source: Any, ids: Any = None,
                  attributes: Optional[Mapping[str, Sequence[Any]]] = None,
                  on_conflict: str = "error", batch_rows: int = 10000, progress: Progress = None,
                  format: Optional[str] = None, options: Optional[Mapping[str, Any]] = None) -> int:
        """Client-side COPY (COPY ... FROM STDIN): streams `source` to the server, which imports
        it as its COPY imports a file, in atomic batches of `batch_rows` rows. `source`: the
        path of a local .npy, .fvecs, .csv or .jsonl file (sent as it is: it may be larger than
        memory), a binary file object (give `format`), or vectors (a 2-d array or a list of
        lists; with `attributes`, a dict column -> values, they travel as jsonl). `ids` (npy,
        fvecs, vectors): a sequence, a 1-d array, or a text (one per line) or .npy file; for a
        file without `ids`, "<name>.ids.txt" next to it. `on_conflict`: 'error', 'skip' or
        'replace'. `options`: more COPY options (header, delimiter, ignore_unknown_fields).
        `progress(rows_done, rows_total)` after each batch; returning False stops the copy
        (Error CANCELLED; the batches committed stay). Returns the rows written. A bad row is an
        Error naming its place ("STDIN: line 7, column 'year': ..."; 0-based row for npy)."""
        if on_conflict not in ("error", "replace", "skip"):
            raise ValueError("on_conflict must be 'error', 'replace' or 'skip', not %r" % (on_conflict,))
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        attributes = dict(attributes or {})
        if isinstance(source, (str, os.PathLike)) or hasattr(source, "read"):
            fmt = _format_of(source, format)
            if attributes:
                raise ValueError("attributes go with vectors; a file carries its own columns")
            data = _file_chunks(os.fspath(source)) if not hasattr(source, "read") else _stream_chunks(source)
            id_part = None
            if fmt in ("npy", "fvecs"):
                if ids is None and not hasattr(source, "read"):
                    ids = _default_ids(os.fspath(source))
                    if not os.path.exists(ids):
                        raise ValueError("%s files hold vectors only: give ids=... (looked for %r)"
                                         % (fmt, ids))
                if ids is None:
                    raise ValueError("%s holds vectors only: give ids=..." % fmt)
                id_part = _ids_source(ids, None)
            elif ids is not None:
                raise ValueError("%s files carry their ids; ids=... is for npy, fvecs and vectors" % fmt)
            src = CopySource(data, id_part)
        else:
            if ids is None:
                raise ValueError("copy_from of vectors needs ids (a sequence, an array or a file)")
            if attributes:
                vectors = source if _np is not None and isinstance(source, _np.ndarray) else list(source)
                n = len(vectors)
                keys = list(ids.tolist() if hasattr(ids, "tolist") else ids)
                if len(keys) != n:
                    raise ValueError("%d ids for %d vectors" % (len(keys), n))
                for name, values in attributes.items():
                    if len(values) != n:
                        raise ValueError("%d ids but %d values of %r" % (n, len(values), name))
                fmt = "jsonl"
                src = CopySource(_jsonl_rows(self._columns_of(collection), keys, vectors, attributes))
            else:
                fmt = "npy"
                data, n = _vectors_npy(source)
                src = CopySource(data, _ids_source(ids, n))
        opts = ["format '%s'" % fmt, "batch_size %d" % int(batch_rows)]
        if on_conflict != "error":
            opts.append("on_conflict '%s'" % on_conflict)
        opts += [_option_text(k, v) for k, v in (options or {}).items()]
        sql = "COPY %s FROM STDIN WITH (%s)" % (quote_name(collection), ", ".join(opts))
        return self._run(sql, (), progress, source=src).rows_affected

    def copy_to(self, collection: str, dest: Any, ids: Any = None, format: Optional[str] = None,
                overwrite: bool = False, progress: Progress = None,
                options: Optional[Mapping[str, Any]] = None) -> int:
        """Client-side COPY TO (COPY ... TO STDOUT): every row of the collection into a local
        file, written as "<path>.partial" and moved into place once complete (a failed copy
        leaves no file; an existing one is FileExistsError unless `overwrite`), or into a
        binary file object (give `format`). The format comes from the extension or `format`;
        npy and fvecs write the ids to `ids` (a path, default "<name>.ids.txt", or a file
        object). `options`: more COPY options (header, delimiter). Returns the rows written."""
        fmt = _format_of(dest, format)
        vectors_only = fmt in ("npy", "fvecs")
        opts = ["format '%s'" % fmt] + [_option_text(k, v) for k, v in (options or {}).items()]
        sql = "COPY %s TO STDOUT WITH (%s)" % (quote_name(collection), ", ".join(opts))
        if hasattr(dest, "write"):
            if vectors_only and not hasattr(ids, "write"):
                raise ValueError("%s holds vectors only: give ids= a file object for the ids" % fmt)
            return self._run(sql, (), progress, sink=CopySink(dest, ids if vectors_only else None)).rows_affected
        paths = [os.fspath(dest)]
        if vectors_only:
            paths.append(os.fspath(ids) if ids is not None else _default_ids(paths[0]))
        elif ids is not None:
            raise ValueError("%s files carry their ids; ids=... is for npy and fvecs" % fmt)
        for p in paths:
            if not overwrite and os.path.exists(p):
                raise FileExistsError("%r exists; copy_to(..., overwrite=True) replaces it" % p)
        files = [open(p + ".partial", "wb") for p in paths]
        try:
            n = self._run(sql, (), progress, sink=CopySink(*files)).rows_affected
            for f in files:
                f.close()
            for p in paths:
                if overwrite:
                    os.replace(p + ".partial", p)
                else:  # link() fails when the file appeared meanwhile: it is never replaced
                    os.link(p + ".partial", p)
                    os.unlink(p + ".partial")
            return n
        finally:
            for f, p in zip(files, paths):
                f.close()
                if os.path.exists(p + ".partial"):
                    os.unlink(p + ".partial")
