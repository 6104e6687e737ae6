"""The mrldb wire protocol (docs/protocol.md, version 1) over a blocking TCP socket.

Standard library only; numpy arrays are accepted (and returned on request) when numpy is
installed.
"""

import math
import numbers
import select
import socket
import struct
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .errors import Error, malformed
from .helpers import RowHelpers, filter_sql
from .helpers import quote_name as _quote_name
from .result import Result, parse_column_batch
from .wire_copy import CopyHelpers, CopySink, CopySource, Progress

try:  # numpy is optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised when numpy is absent
    _np = None

PROTOCOL_VERSION = 1
MAGIC = b"MRLD"

# Frame types, client to server.
HELLO, AUTH, QUERY, CANCEL, PING, CLOSE = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
COPY_DATA, COPY_DONE, COPY_FAIL, QUERY_COLUMNAR = 0x07, 0x08, 0x09, 0x0A
# Frame types, server to client.
HELLO_OK, AUTH_OK, SCHEMA, ROW_BATCH, COMPLETE, ERROR, PROGRESS, PONG = range(0x41, 0x49)
COPY_IN, COPY_OUT, COPY_DATA_OUT, COLUMN_BATCH = 0x49, 0x4A, 0x4B, 0x4C

# Value tags.
T_NULL, T_INT64, T_FLOAT64, T_BOOL, T_TEXT, T_VECTOR, T_MATRIX = range(7)
COLUMN_TYPES = {1: "BIGINT", 2: "FLOAT", 3: "BOOL", 4: "TEXT", 5: "VECTOR"}

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


# ---- Encoding ---------------------------------------------------------------------------

def _string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def _floats(values: Any, what: str) -> Tuple[bytes, int]:
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


def _is_numpy(v: Any, ndim: int) -> bool:
    return _np is not None and isinstance(v, _np.ndarray) and v.ndim == ndim


def encode_value(v: Any, where: str = "parameter") -> bytes:
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

    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise malformed("a field runs past the frame's end")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt: str) -> Tuple[Any, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def u8(self) -> int:
        return self.unpack("<B")[0]

    def u32(self) -> int:
        return self.unpack("<I")[0]

    def u64(self) -> int:
        return self.unpack("<Q")[0]

    def string(self) -> str:
        return bytes(self.take(self.u32())).decode("utf-8", errors="replace")

    def rest(self) -> memoryview:
        return self.take(len(self.buf) - self.pos)

    def done(self) -> None:
        if self.pos != len(self.buf):
            raise malformed("%d bytes left over" % (len(self.buf) - self.pos))


def _parse_address(address: str) -> Tuple[str, int]:
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("address %r is not HOST:PORT" % address)
    return host, int(port)


# ---- The connection ---------------------------------------------------------------------

class Connection(RowHelpers, CopyHelpers):
    """One connection to `mrldb serve`. Use `connect()`; a Connection is also a context
    manager. One statement at a time; `cancel()` may be called from another thread."""

    def __init__(self, address: str, token: Optional[str] = None, timeout: float = 10.0,
                 client_name: str = "mrldb-python", numpy_vectors: bool = False,
                 max_frame_bytes: int = 64 << 20) -> None:
        host, port = _parse_address(address)
        self.numpy_vectors = numpy_vectors
        self.max_frame_bytes = max_frame_bytes
        self._send_lock = threading.Lock()
        self._closed = False
        self._running = False
        # collection -> (id column, vector column), from DESCRIBE on first use by search/insert;
        # see _with_columns for how it is kept fresh.
        self._columns: Dict[str, Tuple[str, str]] = {}
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

    def _send(self, ftype: int, payload: Any = b"", *more: Any) -> None:
        """One frame: its type and payload; `more` payload pieces are sent after `payload`
        without joining them (COPY data goes out as it is)."""
        header = struct.pack("<IB", len(payload) + sum(len(m) for m in more) + 1, ftype)
        with self._send_lock:
            if self._closed:
                raise Error("the connection is closed")
            try:
                self._sock.sendall(header + bytes(payload))
                for m in more:
                    self._sock.sendall(m)
            except OSError as e:
                self._shut()
                raise Error("connection lost: %s" % e) from None

    def _recv_exact(self, n: int) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            try:
                k = self._sock.recv_into(view[got:], n - got)
            except socket.timeout:
                self._shut()
                raise Error("the server did not answer in time") from None
            except OSError as e:
                self._shut()
                raise Error("connection lost: %s" % e) from None
            if not k:
                self._shut()
                raise Error("connection closed by the server")
            got += k
        return buf

    def _recv(self) -> Tuple[int, _Reader]:
        """The next frame: (type, reader). Server ERROR frames raise Error."""
        length = struct.unpack("<I", self._recv_exact(4))[0]
        if length < 1 or length - 1 > self.max_frame_bytes:
            self._shut()
            raise Error("malformed frame from the server: length %d" % length, code=64, fatal=True)
        body = self._recv_exact(length)
        r = _Reader(memoryview(body)[1:])
        if body[0] == ERROR:
            code, fatal = r.u8(), r.u8() != 0
            line, column = r.u32(), r.u32()
            message = r.string()
            if fatal:
                self._shut()
            raise Error(message, code=code, line=line, column=column, fatal=fatal)
        return body[0], r

    def _expect(self, ftype: int) -> Tuple[int, _Reader]:
        got, r = self._recv()
        if got != ftype:
            self._shut()
            raise Error("unexpected frame 0x%02x from the server (expected 0x%02x)" % (got, ftype),
                        code=64, fatal=True)
        return got, r

    def _shut(self) -> None:
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

    def execute(self, sql: str, params: Sequence[Any] = (), progress: Progress = None) -> Result:
        """Runs one statement; `params` bind to $1, $2 ... Returns a Result; raises Error.
        `progress(rows_done, rows_total_or_None)` is called for COPY progress; returning False
        cancels the COPY (batches already committed stay)."""
        return self._run(sql, params, progress)

    def _run(self, sql: str, params: Sequence[Any], progress: Progress,
             source: Optional[CopySource] = None, sink: Optional[CopySink] = None) -> Result:
        """execute(), and the two sides of COPY over the wire: `source` is sent when the server
        asks for data (COPY_IN), COPY_DATA from the server goes to `sink`."""
        payload = [_string(sql), struct.pack("<I", len(params))]
        for i, p in enumerate(params):
            payload.append(encode_value(p, "parameter $%d" % (i + 1)))
        payload = b"".join(payload)
        if len(payload) > self.server_max_frame_bytes:
            raise Error("the statement and its parameters take %d bytes; the server accepts at "
                        "most %d per frame" % (len(payload), self.server_max_frame_bytes), code=66)
        # Results come in columns (COLUMN_BATCH), which Result decodes in bulk.
        self._send(QUERY_COLUMNAR, payload)
        self._running = True
        # An error of this side that ends a COPY (a source that cannot be read, a sink or ids
        # missing): raised once the server has answered the statement.
        ours: Optional[BaseException] = None
        try:
            columns: List[str] = []
            types: List[str] = []
            batches = []
            while True:
                try:
                    ftype, r = self._recv()
                except Error as e:
                    if ours is not None and not e.fatal:
                        raise ours from None
                    raise
                if ftype in (PROGRESS, PONG):
                    self._aside(ftype, r, progress)
                elif ftype == COPY_IN:
                    r.string()
                    want_ids = r.u8() != 0
                    r.done()
                    ours = self._send_copy(source, want_ids, progress)
                elif ftype == COPY_OUT:
                    r.string()
                    has_ids = r.u8() != 0
                    r.done()
                    if sink is None or (has_ids and sink.ids is None):
                        ours = Error("COPY ... TO STDOUT sends data: use copy_to()" if sink is None
                                     else "the server sends the ids of npy and fvecs as a second "
                                          "part: give copy_to() ids=...", code=1)
                        self.cancel()
                elif ftype == COPY_DATA_OUT:
                    part = r.u8()
                    data = r.rest()
                    if ours is None and sink is not None:
                        out = sink.ids if part == 1 else sink.data
                        if out is None:
                            raise malformed("COPY_DATA before COPY_OUT")
                        try:
                            out.write(data)
                        except (OSError, ValueError) as e:
                            ours = e
                            self.cancel()
                elif ftype == SCHEMA:
                    for _ in range(r.u32()):
                        columns.append(r.string())
                        types.append(COLUMN_TYPES.get(r.u8(), "?"))
                    r.done()
                elif ftype == COLUMN_BATCH:
                    batches.append(parse_column_batch(r.rest(), types))
                elif ftype == COMPLETE:
                    tag, affected = r.string(), r.u64()
                    r.done()
                    if ours is not None:
                        raise ours
                    if tag.startswith(("CREATE COLLECTION", "DROP COLLECTION", "ALTER COLLECTION")):
                        self._columns.clear()  # a collection's columns may have changed
                    return Result(columns, types, batches, tag, affected, self.numpy_vectors)
                else:
                    self._shut()
                    raise Error("unexpected frame 0x%02x from the server" % ftype, code=64, fatal=True)
        finally:
            self._running = False

    def _aside(self, ftype: int, r: _Reader, progress: Progress) -> None:
        """PROGRESS and PONG, which may come before any result frame."""
        if ftype == PROGRESS:
            done, has_total, total = r.u64(), r.u8(), r.u64()
            if progress is not None and progress(done, total if has_total else None) is False:
                self.cancel()
        r.done()

    def _send_copy(self, source: Optional[CopySource], want_ids: bool,
                   progress: Progress) -> Optional[BaseException]:
        """COPY ... FROM STDIN after COPY_IN: the ids part when the server wants one, the data
        part, COPY_DONE. Between frames the server's frames are looked at: its ERROR (bad data,
        CANCEL) stops the sending and is raised. When this side cannot go on (no source, no
        ids, a source that fails), the COPY is given up with COPY_FAIL and the reason returned:
        the server answers with an ERROR saying so, and the caller raises the reason then."""
        def give_up(why: BaseException) -> BaseException:
            self._send(COPY_FAIL, _string(str(why)))
            return why
        if source is None:
            return give_up(Error("COPY ... FROM STDIN needs the data: use copy_from()", code=1))
        if want_ids and source.ids is None:
            return give_up(Error("the server wants the ids first (npy and fvecs hold vectors "
                                 "only): give copy_from() ids=...", code=1))
        try:
            for part, chunks in ((b"\x01", source.ids if want_ids else None), (b"\x00", source.data)):
                for chunk in chunks() if chunks is not None else ():
                    if len(chunk):
                        self._send(COPY_DATA, part, chunk)
                        self._read_while_sending(progress)
        except Error as e:
            if not e.fatal and e.code is not None:  # the statement failed: the server awaits the end
                self._send(COPY_DONE)
            raise
        except Exception as e:  # the source failed (a file, an id that cannot be sent ...)
            return give_up(e)
        self._send(COPY_DONE)
        return None

    def _read_while_sending(self, progress: Progress) -> None:
        """The frames the server has sent while COPY data goes out, without waiting."""
        while select.select([self._sock], [], [], 0)[0]:
            ftype, r = self._recv()  # an ERROR raises
            if ftype not in (PROGRESS, PONG):
                self._shut()
                raise Error("unexpected frame 0x%02x while COPY data is sent" % ftype, code=64,
                            fatal=True)
            self._aside(ftype, r, progress)

    def cancel(self) -> None:
        """Asks the running statement to stop (COPY between batches). Safe from any thread."""
        if self._running and not self._closed:
            try:
                self._send(CANCEL)
            except Error:
                pass

    def ping(self) -> None:
        """A round trip to the server; raises Error when the connection is gone."""
        self._send(PING)
        self._expect(PONG)[1].done()

    def search(self, collection: str, vector: Any, k: int = 10,
               columns: Sequence[str] = ("id", "distance"), where: Any = None,
               params: Sequence[Any] = (), plan: Optional[str] = None,
               **filters: Any) -> List[Dict[str, Any]]:
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

    def search_batch(self, collection: str, vectors: Any, k: int = 10,
                     columns: Sequence[str] = ("query_index", "id", "distance"),
                     plan: Optional[str] = None) -> List[List[Dict[str, Any]]]:
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

    def predict(self, collection: str, label: str, vectors: Any, k: Optional[int] = None,
                cascade: Optional[Sequence[int]] = None, confidence: Optional[float] = None,
                vote: Optional[str] = None, shortlist: Optional[int] = None,
                neighbours: bool = False, where: Optional[str] = None,
                params: Sequence[Any] = ()) -> Any:
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

    def insert(self, collection: str, ids: Sequence[Any], vectors: Any,
               attributes: Optional[Dict[str, Sequence[Any]]] = None, upsert: bool = False,
               batch_rows: Optional[int] = None) -> int:
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

    def close(self) -> None:
        """Sends CLOSE and closes the socket; idempotent."""
        if not self._closed:
            try:
                self._send(CLOSE)
            except Error:
                pass
            self._shut()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- helpers --

    def _columns_of(self, collection: str) -> Tuple[str, str]:
        """(id column, vector column) of `collection`, from DESCRIBE (rows: column, type,
        details) unless cached."""
        if collection not in self._columns:
            rows = self.execute("DESCRIBE %s" % _quote_name(collection)).rows
            id_column = next(r[0] for r in rows if r[2] == "PRIMARY KEY")
            vector_column = next(r[0] for r in rows if r[1].startswith("VECTOR("))
            self._columns[collection] = (id_column, vector_column)
        return self._columns[collection]

    def _with_columns(self, collection: str, run: Callable[[Tuple[str, str]], Any]) -> Any:
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


def connect(address: Optional[str] = None, token: Optional[str] = None, timeout: float = 10.0,
            host: Optional[str] = None, port: Optional[int] = None, **kwargs: Any) -> Connection:
    """Connects to `mrldb serve` at "HOST:PORT" (or host=..., port=...) and returns a
    Connection."""
    if address is None:
        if host is None or port is None:
            raise ValueError("connect() needs \"HOST:PORT\" or host=... and port=...")
        address = "[%s]:%d" % (host, int(port)) if ":" in host else "%s:%d" % (host, int(port))
    elif host is not None or port is not None:
        raise ValueError("connect(): give \"HOST:PORT\" or host/port, not both")
    return Connection(address, token=token, timeout=timeout, **kwargs)
