"""The mrldb wire protocol (docs/protocol.md, version 1) over a blocking TCP socket.

Standard library only; numpy arrays are accepted (and returned on request) when numpy is
installed.
"""

import math
import numbers
import socket
import struct
import threading

from .helpers import RowHelpers, filter_sql
from .helpers import quote_name as _quote_name

try:  # numpy is optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised when numpy is absent
    _np = None

PROTOCOL_VERSION = 1
MAGIC = b"MRLD"

# Frame types, client to server.
HELLO, AUTH, QUERY, CANCEL, PING, CLOSE = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
# Frame types, server to client.
HELLO_OK, AUTH_OK, SCHEMA, ROW_BATCH, COMPLETE, ERROR, PROGRESS, PONG = range(0x41, 0x49)

# Value tags.
T_NULL, T_INT64, T_FLOAT64, T_BOOL, T_TEXT, T_VECTOR, T_MATRIX = range(7)
COLUMN_TYPES = {1: "BIGINT", 2: "FLOAT", 3: "BOOL", 4: "TEXT", 5: "VECTOR"}

ERROR_CODES = {
    1: "INVALID_ARGUMENT", 2: "NOT_FOUND", 3: "ALREADY_EXISTS", 4: "CORRUPTION",
    5: "IO_ERROR", 6: "NOT_SUPPORTED", 7: "VERSION_MISMATCH", 8: "INTERNAL", 9: "CANCELLED",
    10: "READ_ONLY",
    64: "PROTOCOL", 65: "AUTH_FAILED", 66: "LIMIT", 67: "TIMEOUT", 68: "SHUTDOWN",
}

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class Error(Exception):
    """An error the server sent (a statement that failed, a refused connection) or a
    connection problem (code None)."""

    def __init__(self, message, code=None, line=0, column=0, fatal=False):
        super().__init__(message)
        self.message = message
        self.code = code
        self.code_name = ERROR_CODES.get(code, "CONNECTION" if code is None else str(code))
        self.line = line
        self.column = column
        self.fatal = fatal

    def __str__(self):
        return "%s: %s" % (self.code_name, self.message)

    def format(self, sql):
        """The error as the mrldb shell prints it: the message, then the statement's line with
        a caret under the offending column when the server gave a position."""
        out = "ERROR:  %s" % self.message
        lines = sql.split("\n")
        if 1 <= self.line <= len(lines) and self.column >= 1:
            prefix = "LINE %d: " % self.line
            out += "\n%s%s\n%s^" % (prefix, lines[self.line - 1], " " * (len(prefix) + self.column - 1))
        return out


class Result:
    """A statement's result: `columns` (names), `types` (BIGINT, FLOAT, BOOL, TEXT, VECTOR),
    `rows` (tuples), the command `tag` ("SELECT 3", "INSERT 2" ...) and `rows_affected`."""

    def __init__(self, columns, types, rows, tag, rows_affected):
        self.columns = columns
        self.types = types
        self.rows = rows
        self.tag = tag
        self.rows_affected = rows_affected

    def dicts(self):
        """The rows as dicts keyed by column name."""
        return [dict(zip(self.columns, r)) for r in self.rows]

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def __repr__(self):
        return "Result(tag=%r, columns=%r, rows=%d)" % (self.tag, self.columns, len(self.rows))


# ---- Encoding ---------------------------------------------------------------------------

def _string(s):
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def _floats(values, what):
    """A flat sequence of numbers as little-endian float32 bytes."""
    if _np is not None and isinstance(values, _np.ndarray):
        arr = _np.ascontiguousarray(values, dtype="<f4").ravel()
        if not _np.all(_np.isfinite(arr)):
            raise ValueError("%s holds NaN or infinity" % what)
        return arr.tobytes(), arr.size
    flat = []
    for v in values:
        # Any real number: int, float, fractions.Fraction, numpy's scalars (np.float32 is not a
        # float subclass; numpy registers its number types with the numbers ABCs). Not bools.
        if (isinstance(v, bool) or (_np is not None and isinstance(v, _np.bool_))
                or not isinstance(v, numbers.Real)):
            raise TypeError("%s holds %r, not a number" % (what, v))
        f = float(v)
        if not math.isfinite(f):
            raise ValueError("%s holds NaN or infinity" % what)
        flat.append(f)
    return struct.pack("<%df" % len(flat), *flat), len(flat)


def _is_numpy(v, ndim):
    return _np is not None and isinstance(v, _np.ndarray) and v.ndim == ndim


def encode_value(v, where="parameter"):
    """One QUERY parameter: None, bool, int, float, str, a vector (list/tuple of numbers,
    array.array, 1-d numpy array) or a matrix (list of equal-length vectors, 2-d numpy array)."""
    if v is None:
        return bytes([T_NULL])
    if isinstance(v, bool) or (_np is not None and isinstance(v, _np.bool_)):
        return bytes([T_BOOL, 1 if v else 0])
    if isinstance(v, int) or (_np is not None and isinstance(v, _np.integer)):
        v = int(v)
        if not _INT64_MIN <= v <= _INT64_MAX:
            raise ValueError("%s %d does not fit in 64 bits" % (where, v))
        return struct.pack("<Bq", T_INT64, v)
    if isinstance(v, float) or (_np is not None and isinstance(v, _np.floating)):
        return struct.pack("<Bd", T_FLOAT64, float(v))
    if isinstance(v, str):
        return bytes([T_TEXT]) + _string(v)
    if _is_numpy(v, 2) or (isinstance(v, (list, tuple)) and v and
                           all(isinstance(r, (list, tuple)) or _is_numpy(r, 1) for r in v)):
        rows = v.shape[0] if _is_numpy(v, 2) else len(v)
        dim = v.shape[1] if _is_numpy(v, 2) else len(v[0])
        if dim == 0:
            raise ValueError("%s: a matrix needs at least one column" % where)
        if not _is_numpy(v, 2) and any(len(r) != dim for r in v):
            raise ValueError("%s: matrix rows differ in length" % where)
        data, n = _floats(v if _is_numpy(v, 2) else [x for r in v for x in r], where)
        assert n == rows * dim
        return struct.pack("<BII", T_MATRIX, rows, dim) + data
    if _np is not None and isinstance(v, _np.ndarray) and v.ndim != 1:
        raise ValueError("%s: a numpy array of %d dimensions (vectors are 1-d, matrices 2-d)"
                         % (where, v.ndim))
    if isinstance(v, (bytes, bytearray, dict, set)):
        raise TypeError("%s: cannot send a %s" % (where, type(v).__name__))
    try:
        data, n = _floats(v, where)
    except TypeError:
        raise TypeError("%s: cannot send %r" % (where, v)) from None
    return struct.pack("<BI", T_VECTOR, n) + data


class _Reader:
    """Bounds-checked reads from one frame's payload."""

    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise Error("malformed frame from the server: a field runs past the frame's end",
                        code=64, fatal=True)
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def u8(self):
        return self.unpack("<B")[0]

    def u32(self):
        return self.unpack("<I")[0]

    def u64(self):
        return self.unpack("<Q")[0]

    def string(self):
        return self.take(self.u32()).decode("utf-8", errors="replace")

    def value(self, numpy_vectors):
        tag = self.u8()
        if tag == T_NULL:
            return None
        if tag == T_INT64:
            return self.unpack("<q")[0]
        if tag == T_FLOAT64:
            return self.unpack("<d")[0]
        if tag == T_BOOL:
            return self.u8() != 0
        if tag == T_TEXT:
            return self.string()
        if tag == T_VECTOR:
            dim = self.u32()
            raw = self.take(4 * dim)
            if numpy_vectors and _np is not None:
                return _np.frombuffer(raw, dtype="<f4").copy()
            return list(struct.unpack("<%df" % dim, raw))
        raise Error("malformed frame from the server: value tag %d" % tag, code=64, fatal=True)

    def done(self):
        if self.pos != len(self.buf):
            raise Error("malformed frame from the server: %d bytes left over"
                        % (len(self.buf) - self.pos), code=64, fatal=True)


def _parse_address(address):
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("address %r is not HOST:PORT" % address)
    return host, int(port)


# ---- The connection ---------------------------------------------------------------------

class Connection(RowHelpers):
    """One connection to `mrldb serve`. Use `connect()`; a Connection is also a context
    manager. One statement at a time; `cancel()` may be called from another thread."""

    def __init__(self, address, token=None, timeout=10.0, client_name="mrldb-python",
                 numpy_vectors=False, max_frame_bytes=64 << 20):
        host, port = _parse_address(address)
        self.numpy_vectors = numpy_vectors
        self.max_frame_bytes = max_frame_bytes
        self._send_lock = threading.Lock()
        self._closed = False
        self._running = False
        # collection -> (id column, vector column), from DESCRIBE on first use by search/insert;
        # see _with_columns for how it is kept fresh.
        self._columns = {}
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise Error("cannot connect to %s: %s" % (address, e)) from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self._send(HELLO, MAGIC + struct.pack("<H", PROTOCOL_VERSION) + _string(client_name))
            ftype, r = self._expect(HELLO_OK)
            version = r.unpack("<H")[0]
            self.server_version = r.string()
            auth_required = r.u8() != 0
            self.server_max_frame_bytes = r.u32()
            r.done()
            if version != PROTOCOL_VERSION:
                raise Error("server speaks protocol %d, this client %d" % (version, PROTOCOL_VERSION),
                            code=7, fatal=True)
            if auth_required:
                if token is None:
                    raise Error("the server requires a token (connect(..., token=...))", code=65,
                                fatal=True)
                self._send(AUTH, _string(token))
                self._expect(AUTH_OK)[1].done()
        except BaseException:
            self._shut()
            raise
        self._sock.settimeout(None)  # statements may run long; cancel() stops them

    # -- frames --

    def _send(self, ftype, payload=b""):
        frame = struct.pack("<IB", len(payload) + 1, ftype) + payload
        with self._send_lock:
            if self._closed:
                raise Error("the connection is closed")
            try:
                self._sock.sendall(frame)
            except OSError as e:
                self._shut()
                raise Error("connection lost: %s" % e) from None

    def _recv_exact(self, n):
        chunks, left = [], n
        while left:
            try:
                b = self._sock.recv(min(left, 1 << 20))
            except socket.timeout:
                self._shut()
                raise Error("the server did not answer in time") from None
            except OSError as e:
                self._shut()
                raise Error("connection lost: %s" % e) from None
            if not b:
                self._shut()
                raise Error("connection closed by the server")
            chunks.append(b)
            left -= len(b)
        return b"".join(chunks)

    def _recv(self):
        """The next frame: (type, reader). Server ERROR frames raise Error."""
        length = struct.unpack("<I", self._recv_exact(4))[0]
        if length < 1 or length - 1 > self.max_frame_bytes:
            self._shut()
            raise Error("malformed frame from the server: length %d" % length, code=64, fatal=True)
        body = self._recv_exact(length)
        r = _Reader(memoryview(body)[1:].tobytes())
        if body[0] == ERROR:
            code, fatal = r.u8(), r.u8() != 0
            line, column = r.u32(), r.u32()
            message = r.string()
            if fatal:
                self._shut()
            raise Error(message, code=code, line=line, column=column, fatal=fatal)
        return body[0], r

    def _expect(self, ftype):
        got, r = self._recv()
        if got != ftype:
            self._shut()
            raise Error("unexpected frame 0x%02x from the server (expected 0x%02x)" % (got, ftype),
                        code=64, fatal=True)
        return got, r

    def _shut(self):
        with_lock = self._send_lock.acquire(blocking=False)
        try:
            if not self._closed:
                self._closed = True
                try:
                    self._sock.close()
                except OSError:
                    pass
        finally:
            if with_lock:
                self._send_lock.release()

    # -- public API --

    def execute(self, sql, params=(), progress=None):
        """Runs one statement; `params` bind to $1, $2 ... Returns a Result; raises Error.
        `progress(rows_done, rows_total_or_None)` is called for COPY progress; returning False
        cancels the COPY (batches already committed stay)."""
        payload = [_string(sql), struct.pack("<I", len(params))]
        for i, p in enumerate(params):
            payload.append(encode_value(p, "parameter $%d" % (i + 1)))
        payload = b"".join(payload)
        if len(payload) > self.server_max_frame_bytes:
            raise Error("the statement and its parameters take %d bytes; the server accepts at "
                        "most %d per frame" % (len(payload), self.server_max_frame_bytes), code=66)
        self._send(QUERY, payload)
        self._running = True
        try:
            columns, types, rows = [], [], []
            while True:
                ftype, r = self._recv()
                if ftype == PROGRESS:
                    done, has_total, total = r.u64(), r.u8(), r.u64()
                    r.done()
                    if progress is not None and progress(done, total if has_total else None) is False:
                        self.cancel()
                elif ftype == PONG:
                    r.done()
                elif ftype == SCHEMA:
                    for _ in range(r.u32()):
                        columns.append(r.string())
                        types.append(COLUMN_TYPES.get(r.u8(), "?"))
                    r.done()
                elif ftype == ROW_BATCH:
                    for _ in range(r.u32()):
                        rows.append(tuple(r.value(self.numpy_vectors) for _ in columns))
                    r.done()
                elif ftype == COMPLETE:
                    tag, affected = r.string(), r.u64()
                    r.done()
                    if tag.startswith(("CREATE COLLECTION", "DROP COLLECTION", "ALTER COLLECTION")):
                        self._columns.clear()  # a collection's columns may have changed
                    return Result(columns, types, rows, tag, affected)
                else:
                    self._shut()
                    raise Error("unexpected frame 0x%02x from the server" % ftype, code=64, fatal=True)
        finally:
            self._running = False

    def cancel(self):
        """Asks the running statement to stop (COPY between batches). Safe from any thread."""
        if self._running and not self._closed:
            try:
                self._send(CANCEL)
            except Error:
                pass

    def ping(self):
        """A round trip to the server; raises Error when the connection is gone."""
        self._send(PING)
        self._expect(PONG)[1].done()

    def search(self, collection, vector, k=10, columns=("id", "distance"), where=None,
               params=(), plan=None, **filters):
        """The k nearest rows to `vector` (a list or 1-d numpy array) as dicts of `columns`.
        The filter: `where` a SQL predicate whose parameters $1, $2 ... are `params`, or a dict
        column -> value, and/or column=value keyword arguments (None: IS NULL; a list: IN);
        `plan` a USING clause body, e.g. "FUNNEL (64 KEEP 200, 768)"."""
        pred, params = filter_sql(where, filters, 2, params)  # $1 is the query vector

        def run(cols):
            sql = "SELECT %s FROM %s" % (", ".join(columns), _quote_name(collection))
            if pred:
                sql += " WHERE " + pred
            sql += " ORDER BY %s <=> $1 LIMIT %d" % (_quote_name(cols[1]), int(k))
            if plan:
                sql += " USING " + plan
            return self.execute(sql, [vector] + params).dicts()
        return self._with_columns(collection, run)

    def search_batch(self, collection, vectors, k=10, columns=("query_index", "id", "distance"),
                     plan=None):
        """Many queries at once (a list of vectors or a 2-d numpy array): a list with, for each
        query, its hits as dicts."""
        cols = list(columns) if "query_index" in columns else ["query_index"] + list(columns)

        def run(id_and_vector):
            sql = "SELECT %s FROM %s ORDER BY %s <=> $1 LIMIT %d" % (
                ", ".join(cols), _quote_name(collection), _quote_name(id_and_vector[1]), int(k))
            if plan:
                sql += " USING " + plan
            return self.execute(sql, [vectors]).dicts()
        n = vectors.shape[0] if _is_numpy(vectors, 2) else len(vectors)
        out = [[] for _ in range(n)]
        for row in self._with_columns(collection, run):
            qi = row["query_index"] if "query_index" in columns else row.pop("query_index")
            out[qi].append(row)
        return out

    def predict(self, collection, label, vectors, k=None, cascade=None, confidence=None,
                vote=None, shortlist=None, neighbours=False, where=None, params=()):
        """Adaptive k-NN classification (PREDICT): the label of `vectors` (one vector, or a list
        / 2-d numpy array of them) from the label column `label`, as a dict {label, confidence,
        dims[, neighbours]} or, for many vectors, a list of them in query order. Options left
        None take the stored TUNE PREDICT calibration, else the defaults (docs/sql.md);
        `where` is a SQL predicate whose parameters are `params` (the vectors go after them)."""
        params = list(params)
        many = _is_numpy(vectors, 2) or (len(vectors) > 0 and not isinstance(vectors[0], numbers.Real)
                                         and not _is_numpy(vectors, 1))
        sql = "PREDICT %s FROM %s FOR $%d" % (_quote_name(label), _quote_name(collection),
                                             len(params) + 1)
        if k is not None:
            sql += " K %d" % int(k)
        if cascade is not None:
            sql += " CASCADE (%s)" % ", ".join(str(int(g)) for g in cascade)
        if confidence is not None:
            sql += " CONFIDENCE %r" % float(confidence)
        if vote is not None:
            sql += " VOTE " + {"uniform": "UNIFORM", "distance": "DISTANCE"}[vote]
        if shortlist is not None:
            sql += " SHORTLIST %d" % int(shortlist)
        if neighbours:
            sql += " WITH NEIGHBOURS"
        if where:
            sql += " WHERE " + where
        rows = self.execute(sql, params + [vectors]).dicts()
        for row in rows:
            row.pop("query_index", None)
            row["label"] = row.pop(next(c for c in row if c not in ("confidence", "dims", "neighbours")))
        return rows if many else rows[0]

    def insert(self, collection, ids, vectors, attributes=None, upsert=False, batch_rows=None):
        """Inserts rows: `ids` (ints or strs), `vectors` (list of lists or a 2-d numpy array),
        `attributes` an optional dict of column name -> list of values. Sent as INSERT
        statements of many rows each; each statement is atomic (all of its rows or none).
        With upsert=True stored ids are replaced. Returns the number of rows written."""
        attributes = attributes or {}
        n = len(ids)
        nvec = vectors.shape[0] if _is_numpy(vectors, 2) else len(vectors)
        if nvec != n:
            raise ValueError("%d ids but %d vectors" % (n, nvec))
        for name, values in attributes.items():
            if len(values) != n:
                raise ValueError("%d ids but %d values of %r" % (n, len(values), name))
        if n == 0:
            return 0
        names = list(attributes)
        width = 2 + len(names)
        dim = vectors.shape[1] if _is_numpy(vectors, 2) else len(vectors[0])
        if batch_rows is None:  # stay well inside the frame limit
            batch_rows = max(1, min(10000, (self.server_max_frame_bytes // 4) // (4 * dim + 64)))
        verb = "UPSERT" if upsert else "INSERT"

        def run(id_and_vector, start):
            end = min(n, start + batch_rows)
            head = "%s INTO %s (%s) VALUES " % (verb, _quote_name(collection), ", ".join(
                _quote_name(c) for c in list(id_and_vector) + names))
            rows_sql = ", ".join(
                "(" + ", ".join("$%d" % ((i - start) * width + j + 1) for j in range(width)) + ")"
                for i in range(start, end))
            params = []
            for i in range(start, end):
                params.append(ids[i])
                params.append(vectors[i])
                params.extend(attributes[name][i] for name in names)
            return self.execute(head + rows_sql, params).rows_affected
        # Only the first statement may be retried with fresh columns: nothing of it was written.
        written = self._with_columns(collection, lambda cols: run(cols, 0))
        for start in range(batch_rows, n, batch_rows):
            written += run(self._columns_of(collection), start)
        return written

    def close(self):
        """Sends CLOSE and closes the socket; idempotent."""
        if not self._closed:
            try:
                self._send(CLOSE)
            except Error:
                pass
            self._shut()

    @property
    def closed(self):
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- helpers --

    def _columns_of(self, collection):
        """(id column, vector column) of `collection`, from DESCRIBE (rows: column, type,
        details) unless cached."""
        if collection not in self._columns:
            rows = self.execute("DESCRIBE %s" % _quote_name(collection)).rows
            id_column = next(r[0] for r in rows if r[2] == "PRIMARY KEY")
            vector_column = next(r[0] for r in rows if r[1].startswith("VECTOR("))
            self._columns[collection] = (id_column, vector_column)
        return self._columns[collection]

    def _with_columns(self, collection, run):
        """run((id column, vector column)). The columns are cached per connection: a CREATE,
        DROP or ALTER COLLECTION through this connection clears the cache, and when `run` fails
        with cached columns that another connection's DROP + CREATE made stale, they are asked
        again and `run` is retried once with the new ones (the failed statement wrote nothing)."""
        cached = self._columns.get(collection)
        try:
            return run(self._columns_of(collection))
        except Error as e:
            if cached is None or e.fatal or e.code is None:
                raise
            self._columns.pop(collection, None)
            try:
                fresh = self._columns_of(collection)
            except Error:
                raise e from None
            if fresh == cached:
                raise
            return run(fresh)


def connect(address=None, token=None, timeout=10.0, host=None, port=None, **kwargs):
    """Connects to `mrldb serve` at "HOST:PORT" (or host=..., port=...) and returns a
    Connection."""
    if address is None:
        if host is None or port is None:
            raise ValueError("connect() needs \"HOST:PORT\" or host=... and port=...")
        address = "[%s]:%d" % (host, int(port)) if ":" in host else "%s:%d" % (host, int(port))
    elif host is not None or port is not None:
        raise ValueError("connect(): give \"HOST:PORT\" or host/port, not both")
    return Connection(address, token=token, timeout=timeout, **kwargs)
