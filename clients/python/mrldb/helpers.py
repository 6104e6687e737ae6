"""Row helpers of Connection: count, get, delete, upsert, copy_from, and filters given as
keyword arguments. Each is one or more ordinary SQL statements (docs/sql.md) with parameters,
so they behave exactly as the SQL does."""

import os
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union)

try:  # numpy is optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised when numpy is absent
    _np = None

Key = Union[int, str]
Filters = Union[str, Mapping[str, Any], None]


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def filter_sql(where: Filters, filters: Mapping[str, Any], first_param: int,
               params: Sequence[Any] = ()) -> Tuple[str, List[Any]]:
    """The predicate and its parameters for `where` (a SQL predicate whose parameters are
    `params`, or a dict column -> value) and `filters` (column=value keyword arguments), the
    parameters numbered from $`first_param`. A value None means IS NULL; a list or tuple means
    IN (...). Returns ("", []) when there is no filter."""
    parts, out = [], []
    if isinstance(where, str):
        if where:
            # The caller's $1, $2 ... are renumbered after the parameters that come first.
            parts.append("(" + _shift_params(where, first_param - 1) + ")")
            out.extend(params)
    elif where is not None:
        filters = dict(where, **filters)
    elif params:
        raise ValueError("params are for a SQL `where` string")
    for column, value in filters.items():
        name = quote_name(column)
        if value is None:
            parts.append(name + " IS NULL")
        elif isinstance(value, (list, tuple, set, frozenset)):
            values = list(value)
            if not values:
                parts.append("FALSE")
                continue
            marks = ", ".join("$%d" % (first_param + len(out) + i) for i in range(len(values)))
            parts.append("%s IN (%s)" % (name, marks))
            out.extend(values)
        else:
            parts.append("%s = $%d" % (name, first_param + len(out)))
            out.append(value)
    return " AND ".join(parts), out


def _shift_params(sql: str, by: int) -> str:
    """`sql` with every $N outside string literals and quoted names made $(N + by)."""
    if by == 0:
        return sql
    out, i, quote = [], 0, None
    while i < len(sql):
        c = sql[i]
        if quote:
            out.append(c)
            if c == quote:
                quote = None
            i += 1
        elif c in "'\"":
            quote = c
            out.append(c)
            i += 1
        elif c == "$" and i + 1 < len(sql) and sql[i + 1].isdigit():
            j = i + 1
            while j < len(sql) and sql[j].isdigit():
                j += 1
            out.append("$%d" % (int(sql[i + 1:j]) + by))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _ids_list(ids: Any) -> List[Key]:
    if _np is not None and isinstance(ids, _np.ndarray):
        if ids.ndim != 1:
            raise ValueError("ids must be 1-d, not of shape %s" % (ids.shape,))
        return ids.tolist()
    if isinstance(ids, (str, bytes, int)):
        raise TypeError("ids must be a list of ids (for one id: [id])")
    return list(ids)


def _load_ids(ids: Any, n: int) -> List[Key]:
    """Ids given as a sequence or array, or the path of a text file (one per line) or of a
    1-d .npy array (integers or strings)."""
    if isinstance(ids, (str, os.PathLike)):
        path = os.fspath(ids)
        if path.lower().endswith(".npy"):
            if _np is None:
                raise RuntimeError("reading %s needs numpy" % path)
            ids = _np.load(path, allow_pickle=False)
        else:
            with open(path, encoding="utf-8") as f:
                ids = [line.rstrip("\r\n") for line in f]
            if ids and ids[-1] == "":
                ids.pop()
    out = _ids_list(ids)
    if len(out) != n:
        raise ValueError("%d ids for %d vectors" % (len(out), n))
    return out


class RowHelpers:
    """Mixed into Connection; uses its execute(), insert() and _columns_of()."""

    def count(self, collection: str, where: Filters = None, params: Sequence[Any] = (),
              **filters: Any) -> int:
        """The number of rows, of those matching the filter when one is given."""
        sql = "SELECT COUNT(*) FROM " + quote_name(collection)
        pred, args = filter_sql(where, filters, 1, params)
        if pred:
            sql += " WHERE " + pred
        return int(self.execute(sql, args).rows[0][0])

    def get(self, collection: str, ids: Sequence[Key], columns: Sequence[str] = ("*",)
            ) -> List[Dict[str, Any]]:
        """The stored rows with these ids (a point read each), as dicts in insertion order; ids
        not stored are left out."""
        ids = _ids_list(ids)
        if not ids:
            return []
        id_column = self._columns_of(collection)[0]
        cols = ", ".join(c if c == "*" else quote_name(c) for c in columns)
        pred, args = filter_sql(None, {id_column: ids}, 1)
        return self.execute("SELECT %s FROM %s WHERE %s" % (cols, quote_name(collection), pred),
                            args).dicts()

    def delete(self, collection: str, ids: Optional[Sequence[Key]] = None, where: Filters = None,
               params: Sequence[Any] = (), **filters: Any) -> int:
        """Deletes the rows with these ids and/or matching the filter; returns how many. With
        neither, nothing is deleted (DELETE FROM c without WHERE must be written as SQL)."""
        if ids is not None:
            filters = dict(filters)
            filters[self._columns_of(collection)[0]] = _ids_list(ids)
        pred, args = filter_sql(where, filters, 1, params)
        if not pred:
            raise ValueError("delete() needs ids or a filter")
        return self.execute("DELETE FROM %s WHERE %s" % (quote_name(collection), pred),
                            args).rows_affected

    def upsert(self, collection: str, ids: Sequence[Key], vectors: Any,
               attributes: Optional[Mapping[str, Sequence[Any]]] = None,
               batch_rows: Optional[int] = None) -> int:
        """insert(..., upsert=True): rows whose id is stored are replaced."""
        return self.insert(collection, ids, vectors, attributes, upsert=True,
                           batch_rows=batch_rows)

    def copy_from(self, collection: str, source: Any, ids: Any = None,
                  attributes: Optional[Mapping[str, Sequence[Any]]] = None,
                  on_conflict: str = "error", batch_rows: int = 10000,
                  progress: Optional[Callable[[int, int], Any]] = None) -> int:
        """Client-side COPY: streams a local .npy file (read through a memory map, so it may be
        larger than memory) or an array of vectors to the server in batches of `batch_rows`
        rows (fewer when a batch would not fit in one frame); each batch is one atomic statement, as a server-side COPY's batches are. `ids`:
        a sequence, a 1-d array, or the path of a text file (one id per line) or of a .npy
        array. `on_conflict`: 'error' (a batch holding a stored id fails; the batches before it
        stay), 'replace' (stored ids are replaced) or 'skip' (stored ids are left out).
        `progress(rows_done, rows_total)` after each batch; returning False stops the copy
        (raises Error with code 9, CANCELLED; the batches sent stay). Returns the rows written."""
        if on_conflict not in ("error", "replace", "skip"):
            raise ValueError("on_conflict must be 'error', 'replace' or 'skip', not %r"
                             % (on_conflict,))
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        vectors = source
        if isinstance(source, (str, os.PathLike)):
            if _np is None:
                raise RuntimeError("copy_from of a file needs numpy")
            vectors = _np.load(os.fspath(source), mmap_mode="r", allow_pickle=False)
        if _np is not None and isinstance(vectors, _np.ndarray):
            if vectors.ndim != 2:
                raise ValueError("vectors must be 2-d (rows, dim), not of shape %s"
                                 % (vectors.shape,))
            n = vectors.shape[0]
        else:
            n = len(vectors)
        if ids is None:
            raise ValueError("copy_from needs ids (a sequence, an array or a file of them)")
        keys = _load_ids(ids, n)
        attributes = dict(attributes or {})
        if n:  # each batch must fit in one statement frame to be atomic
            dim = vectors.shape[1] if _np is not None and isinstance(vectors, _np.ndarray) \
                else len(vectors[0])
            batch_rows = max(1, min(batch_rows, (self.server_max_frame_bytes // 4) // (4 * dim + 64)))
        written = 0
        for start in range(0, n, batch_rows):
            end = min(n, start + batch_rows)
            batch_ids, batch_vectors = keys[start:end], vectors[start:end]
            batch_attrs = {k: list(v[start:end]) for k, v in attributes.items()}
            if _np is not None and isinstance(batch_vectors, _np.ndarray):
                batch_vectors = _np.ascontiguousarray(batch_vectors, dtype=_np.float32)
            if on_conflict == "skip":
                stored = {r[next(iter(r))] for r in self.get(collection, batch_ids,
                                                            [self._columns_of(collection)[0]])}
                keep = [i for i, k in enumerate(batch_ids) if k not in stored]
                if len(keep) < len(batch_ids):
                    batch_ids = [batch_ids[i] for i in keep]
                    batch_vectors = [batch_vectors[i] for i in keep]
                    batch_attrs = {k: [v[i] for i in keep] for k, v in batch_attrs.items()}
            if batch_ids:
                written += self.insert(collection, batch_ids, batch_vectors, batch_attrs,
                                       upsert=on_conflict == "replace", batch_rows=end - start)
            if progress is not None and progress(end, n) is False:
                from .client import Error
                raise Error("copy_from stopped after %d rows" % written, code=9)
        return written
