"""Row helpers of Connection: count, get, delete, upsert, and filters given as keyword
arguments. Each is one or more ordinary SQL statements (docs/sql.md) with parameters,
so they behave exactly as the SQL does."""

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

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
