"""The Python client against a real `mrldb serve`, started by these tests.

    MRLDB_BIN=build/shell/mrldb python3 -m unittest discover -s clients/python/tests -v

(ctest runs them as Python.ClientTests.)
"""

import math
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mrldb  # noqa: E402

try:
    import numpy as np
except ImportError:  # the numpy tests skip
    np = None

MRLDB_BIN = os.environ.get("MRLDB_BIN", "build/shell/mrldb")


class Server:
    """`mrldb serve` on an ephemeral loopback port, in a temporary directory."""

    def __init__(self, *extra, token=None):
        self.dir = tempfile.mkdtemp(prefix="mrldb-py-")
        self.copy_dir = os.path.join(self.dir, "files")
        os.makedirs(self.copy_dir)
        # No background tuning: it would compete for the CPU with the client, and the progress
        # test counts PROGRESS frames, which a client that reads late gets coalesced.
        args = [MRLDB_BIN, "serve", "--db", os.path.join(self.dir, "db"),
                "--listen", "127.0.0.1:0", "--copy-dir", self.copy_dir,
                "--auto-tune", "off"] + list(extra)
        if token is not None:
            path = os.path.join(self.dir, "token")
            with open(path, "w") as f:
                f.write(token + "\n")
            args += ["--token-file", path]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        self.log = []
        deadline = time.time() + 30
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("mrldb serve exited: %s" % "".join(self.log))
            self.log.append(line)
            m = re.search(r"listening on (\S+):(\d+)", line)
            if m:
                self.address = "%s:%s" % (m.group(1), m.group(2))
                break
            if time.time() > deadline:
                raise RuntimeError("mrldb serve did not start: %s" % "".join(self.log))
        # Keep draining the log so the server never blocks on a full pipe.
        self._drain = threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True)
        self._drain.start()

    def connect(self, **kwargs):
        return mrldb.connect(self.address, **kwargs)

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self._drain.join(timeout=5)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._drain.join(timeout=5)
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def l2(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b))


class ServerTestCase(unittest.TestCase):
    """Tests sharing one `mrldb serve`, which must stop cleanly at the end."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server()

    @classmethod
    def tearDownClass(cls):
        try:
            status = cls.server.stop()
            assert status == 0, "mrldb serve exited with %s: %s" % (status, "".join(cls.server.log))
        finally:
            cls.server.cleanup()


class ClientTest(ServerTestCase):

    def setUp(self):
        self.db = self.server.connect()
        self.name = "c_" + self.id().split(".")[-1].lower()
        self.db.execute("DROP COLLECTION IF EXISTS %s" % self.name)

    def tearDown(self):
        self.db.close()

    def create(self, dim=8, extra=""):
        ladder = "MATRYOSHKA (2, 4, 8) " if dim == 8 else ""
        self.db.execute("CREATE COLLECTION %s (id BIGINT PRIMARY KEY, embedding VECTOR(%d) %s"
                        "METRIC L2%s)" % (self.name, dim, ladder, extra))

    def test_insert_and_search_match_brute_force(self):
        self.create(extra=", title TEXT, year INT")
        rng = random.Random(7)
        vectors = [[rng.uniform(-1, 1) for _ in range(8)] for _ in range(500)]
        ids = list(range(1000, 1500))
        years = [2000 + i % 20 for i in range(500)]
        titles = ["t%d" % i for i in range(500)]
        self.assertEqual(self.db.insert(self.name, ids, vectors,
                                        {"title": titles, "year": years}), 500)
        q = [rng.uniform(-1, 1) for _ in range(8)]
        # float32 round trip of the stored vectors, as the server sees them.
        stored = [struct.unpack("<8f", struct.pack("<8f", *v)) for v in vectors]
        truth = sorted(range(500), key=lambda i: l2(stored[i], q))[:10]
        hits = self.db.search(self.name, q, k=10, columns=("id", "title", "distance"),
                              plan="EXACT")
        self.assertEqual([h["id"] for h in hits], [ids[i] for i in truth])
        self.assertEqual(hits[0]["title"], titles[truth[0]])
        # <=> on an L2 collection is the Euclidean distance.
        self.assertAlmostEqual(hits[0]["distance"], math.sqrt(l2(stored[truth[0]], q)), places=4)
        # The default plan on 500 rows finds the same neighbours.
        self.assertEqual([h["id"] for h in self.db.search(self.name, q, k=10)],
                         [ids[i] for i in truth])
        # A filter with its own parameters, numbered from $1 (the query vector is sent after them).
        hits = self.db.search(self.name, q, k=5, columns=("id", "year"),
                              where="year >= $1 AND title != $2", params=[2015, "t999"])
        self.assertEqual(len(hits), 5)
        self.assertTrue(all(h["year"] >= 2015 for h in hits))
        hits = self.db.search(self.name, q, k=3, columns=("id", "title"), where="title = $1",
                              params=["t7"])
        self.assertEqual(hits, [{"id": 1007, "title": "t7"}])

    def test_filters_as_keyword_arguments_and_dicts(self):
        self.create(extra=", genre TEXT, year INT")
        ids = list(range(20))
        vectors = [[float(i)] * 8 for i in ids]
        genres = ["rock" if i % 2 else "jazz" for i in ids]
        years = [None if i == 3 else 2000 + i for i in ids]
        self.db.insert(self.name, ids, vectors, {"genre": genres, "year": years})
        q = [0.0] * 8
        by_kw = self.db.search(self.name, q, k=3, columns=("id",), plan="EXACT", genre="rock")
        self.assertEqual([h["id"] for h in by_kw], [1, 3, 5])
        by_dict = self.db.search(self.name, q, k=3, columns=("id",), plan="EXACT",
                                 where={"genre": "rock"}, year=[2005, 2007, 2099])
        self.assertEqual([h["id"] for h in by_dict], [5, 7])
        self.assertEqual(self.db.search(self.name, q, k=5, columns=("id",), year=None),
                         [{"id": 3}])
        # A SQL filter and keyword filters together; the SQL's own $1 is renumbered.
        hits = self.db.search(self.name, q, k=20, columns=("id",), plan="EXACT",
                              where="year > $1 AND genre <> '$1'", params=[2015], genre="jazz")
        self.assertEqual([h["id"] for h in hits], [16, 18])
        self.assertEqual(self.db.count(self.name), 20)
        self.assertEqual(self.db.count(self.name, genre="jazz"), 10)
        self.assertEqual(self.db.count(self.name, where="year < $1", params=[2002]), 2)
        with self.assertRaises(mrldb.Error) as e:
            self.db.count(self.name, nope=1)
        self.assertIn("nope", str(e.exception))

    def test_get_delete_upsert(self):
        self.create(extra=", title TEXT")
        self.db.insert(self.name, [1, 2, 3], [[1.0] * 8, [2.0] * 8, [3.0] * 8],
                       {"title": ["a", "b", "c"]})
        rows = self.db.get(self.name, [3, 1, 99], columns=("id", "title"))
        self.assertEqual(sorted(rows, key=lambda r: r["id"]),
                         [{"id": 1, "title": "a"}, {"id": 3, "title": "c"}])
        self.assertEqual(self.db.get(self.name, []), [])
        full = self.db.get(self.name, [2])
        self.assertEqual(full[0]["embedding"], [2.0] * 8)
        self.assertEqual(self.db.upsert(self.name, [2, 4], [[5.0] * 8, [4.0] * 8],
                                        {"title": ["B", "d"]}), 2)
        self.assertEqual(self.db.get(self.name, [2], columns=("title",)), [{"title": "B"}])
        self.assertEqual(self.db.count(self.name), 4)
        self.assertEqual(self.db.delete(self.name, [1, 4, 99]), 2)
        self.assertEqual(self.db.delete(self.name, title="c"), 1)
        self.assertEqual(self.db.count(self.name), 1)
        with self.assertRaises(ValueError):
            self.db.delete(self.name)  # neither ids nor a filter: refused, nothing deleted
        with self.assertRaises(TypeError):
            self.db.get(self.name, 2)
        self.assertEqual(self.db.count(self.name), 1)

    def test_connect_with_host_and_port(self):
        host, port = self.server.address.rsplit(":", 1)
        with mrldb.connect(host=host, port=int(port)) as db:
            db.ping()
        with self.assertRaises(ValueError):
            mrldb.connect(host=host)
        with self.assertRaises(ValueError):
            mrldb.connect(self.server.address, port=int(port))

    def test_copy_from_lists_and_skip_replace(self):
        self.create()
        vectors = [[float(i)] * 8 for i in range(25)]
        seen = []
        n = self.db.copy_from(self.name, vectors[:10], ids=list(range(10)), batch_rows=4,
                              progress=lambda done, total: seen.append((done, total)))
        self.assertEqual(n, 10)
        # After each batch of 4 (a PROGRESS still queued when the next comes is replaced by it).
        self.assertEqual(seen[-1], (10, 10))
        self.assertTrue(set(seen) <= {(4, 10), (8, 10), (10, 10)}, seen)
        # A re-run over a superset: 'skip' leaves the stored ids out, 'error' fails the batch.
        self.assertEqual(self.db.copy_from(self.name, vectors, ids=list(range(25)),
                                           on_conflict="skip", batch_rows=7), 15)
        with self.assertRaises(mrldb.Error):
            self.db.copy_from(self.name, vectors[:2], ids=[0, 1])
        self.assertEqual(self.db.copy_from(self.name, [[9.0] * 8], ids=[0],
                                           on_conflict="replace"), 1)
        self.assertEqual(self.db.get(self.name, [0], columns=("embedding",))[0]["embedding"],
                         [9.0] * 8)
        self.assertEqual(self.db.count(self.name), 25)
        # Stopped by its progress callback after the first batch: the batches committed before
        # the CANCEL reached the server stay, whole.
        self.db.execute("DELETE FROM %s WHERE id >= 0" % self.name)
        many = [[float(i % 13)] * 8 for i in range(30000)]
        with self.assertRaises(mrldb.Error) as e:
            self.db.copy_from(self.name, many, ids=list(range(30000)), batch_rows=500,
                              progress=lambda done, total: False)
        self.assertEqual(e.exception.code_name, "CANCELLED")
        kept = self.db.count(self.name)
        self.assertTrue(500 <= kept < 30000 and kept % 500 == 0, kept)
        with self.assertRaises(ValueError):
            self.db.copy_from(self.name, vectors, ids=[1, 2])
        with self.assertRaises(ValueError):
            self.db.copy_from(self.name, vectors, ids=list(range(25)), on_conflict="merge")

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_copy_from_npy_files_and_arrays(self):
        self.db.execute("CREATE COLLECTION %s (id TEXT PRIMARY KEY, embedding VECTOR(16) "
                        "METRIC L2)" % self.name)
        rng = np.random.default_rng(5)
        x = rng.standard_normal((3000, 16))  # float64: sent as float32
        path = os.path.join(self.server.dir, "local.npy")  # not in the server's COPY directory
        np.save(path, x)
        ids = np.array(["r%d" % i for i in range(3000)])
        np.save(os.path.join(self.server.dir, "ids.npy"), ids)
        self.assertEqual(self.db.copy_from(self.name, path,
                                           ids=os.path.join(self.server.dir, "ids.npy")), 3000)
        got = self.db.get(self.name, ["r0", "r2999"], columns=("id", "embedding"))
        by_id = {r["id"]: r["embedding"] for r in got}
        self.assertEqual(by_id["r2999"], x[2999].astype(np.float32).tolist())
        ids_txt = os.path.join(self.server.dir, "ids.txt")
        with open(ids_txt, "w") as f:
            f.write("".join("s%d\n" % i for i in range(100)))
        self.assertEqual(self.db.copy_from(self.name, x[:100].astype(np.float32), ids=ids_txt), 100)
        self.assertEqual(self.db.count(self.name), 3100)

    def test_columns_follow_drop_and_create_with_other_columns(self):
        # Declared vector first, id last: the client finds them by DESCRIBE's details.
        self.db.execute("CREATE COLLECTION %s (embedding VECTOR(2) METRIC L2, id BIGINT PRIMARY KEY)"
                        % self.name)
        self.assertEqual(self.db.insert(self.name, [1], [[0, 0]]), 1)
        self.assertEqual(self.db.search(self.name, [0, 0], k=1), [{"id": 1, "distance": 0.0}])
        # DROP + CREATE through this connection: its cached columns are gone.
        self.db.execute("DROP COLLECTION %s" % self.name)
        self.db.execute("CREATE COLLECTION %s (k TEXT PRIMARY KEY, v VECTOR(2) METRIC L2)"
                        % self.name)
        self.assertEqual(self.db.insert(self.name, ["a"], [[1, 0]]), 1)
        self.assertEqual(self.db.search(self.name, [1, 0], k=1, columns=("k",)), [{"k": "a"}])
        # DROP + CREATE through another connection: the failed statement is retried once with
        # the columns asked again.
        with self.server.connect() as other:
            other.execute("DROP COLLECTION %s" % self.name)
            other.execute("CREATE COLLECTION %s (name TEXT PRIMARY KEY, vec VECTOR(2) METRIC L2)"
                          % self.name)
            other.execute("INSERT INTO %s VALUES ('b', [0, 1])" % self.name)
        self.assertEqual(self.db.search(self.name, [0, 1], k=1, columns=("name",)), [{"name": "b"}])
        with self.server.connect() as other:
            other.execute("DROP COLLECTION %s" % self.name)
            other.execute("CREATE COLLECTION %s (key BIGINT PRIMARY KEY, e VECTOR(2) METRIC L2)"
                          % self.name)
        self.assertEqual(self.db.insert(self.name, [5, 6], [[0, 1], [1, 1]], batch_rows=1), 2)
        self.assertEqual(self.db.execute("SELECT key FROM %s" % self.name).rows, [(5,), (6,)])
        # An error that stale columns did not cause is raised as it is.
        with self.assertRaises(mrldb.Error) as e:
            self.db.insert(self.name, [5], [[0, 1]])
        self.assertEqual(e.exception.code_name, "ALREADY_EXISTS")

    def test_results_are_typed_and_null_is_none(self):
        self.db.execute("CREATE COLLECTION %s (id TEXT PRIMARY KEY, embedding VECTOR(3) METRIC L2, "
                        "n INT, f FLOAT, b BOOL, s TEXT)" % self.name)
        r = self.db.execute("INSERT INTO %s VALUES ($1, $2, $3, $4, $5, $6), ('b', [0, 0, 0], NULL, "
                            "NULL, NULL, NULL)" % self.name,
                            ["a", [1.5, -2, 3], -(1 << 62), 2.25, True, "héllo"])
        self.assertEqual(r.tag, "INSERT 2")
        self.assertEqual(r.rows_affected, 2)
        r = self.db.execute("SELECT id, embedding, n, f, b, s FROM %s WHERE id = $1" % self.name, ["a"])
        self.assertEqual(r.columns, ["id", "embedding", "n", "f", "b", "s"])
        self.assertEqual(r.types, ["TEXT", "VECTOR", "BIGINT", "FLOAT", "BOOL", "TEXT"])
        self.assertEqual(r.rows, [("a", [1.5, -2.0, 3.0], -(1 << 62), 2.25, True, "héllo")])
        r = self.db.execute("SELECT n, f, b, s FROM %s WHERE id = 'b'" % self.name)
        self.assertEqual(r.rows, [(None, None, None, None)])

    def test_errors_carry_code_and_position_and_keep_the_connection(self):
        self.create()
        sql = "SELECT id\nFROM %s WHERE nope = 1" % self.name
        with self.assertRaises(mrldb.Error) as e:
            self.db.execute(sql)
        self.assertEqual(e.exception.code_name, "INVALID_ARGUMENT")
        self.assertEqual(e.exception.line, 2)
        self.assertGreater(e.exception.column, 1)
        shown = e.exception.format(sql)
        self.assertIn("LINE 2: FROM", shown)
        self.assertTrue(shown.endswith("^"))
        with self.assertRaises(mrldb.Error) as e:
            self.db.execute("SELECT id FROM no_such_collection")
        self.assertEqual(e.exception.code_name, "NOT_FOUND")
        with self.assertRaises(mrldb.Error) as e:
            self.db.execute("INSERT INTO %s VALUES (1, $1)" % self.name, [[1, 2, 3]])
        self.assertIn("8", e.exception.message)  # says the dimension it wanted
        # Non-finite values and unsendable types are refused before anything is sent.
        with self.assertRaises(ValueError):
            self.db.execute("INSERT INTO %s VALUES (1, $1)" % self.name, [[math.nan] * 8])
        with self.assertRaises(TypeError):
            self.db.execute("SELECT 1", [object()])
        with self.assertRaises(ValueError):
            self.db.execute("SELECT 1", [1 << 70])
        self.db.ping()  # still usable
        self.assertEqual(self.db.execute("SELECT id FROM %s" % self.name).rows, [])

    def test_a_failed_insert_writes_nothing(self):
        self.create()
        self.db.insert(self.name, [1], [[0.0] * 8])
        with self.assertRaises(mrldb.Error) as e:
            self.db.insert(self.name, [2, 3, 1], [[1.0] * 8] * 3)
        self.assertEqual(e.exception.code_name, "ALREADY_EXISTS")
        self.assertEqual(self.db.execute("SELECT id FROM %s" % self.name).rows, [(1,)])
        # upsert replaces
        self.assertEqual(self.db.insert(self.name, [1, 2], [[2.0] * 8] * 2, upsert=True), 2)
        r = self.db.execute("SELECT embedding FROM %s WHERE id = 1" % self.name)
        self.assertEqual(r.rows[0][0], [2.0] * 8)

    def test_batch_search_answers_each_query(self):
        self.create()
        self.db.insert(self.name, list(range(64)), [[float(i)] * 8 for i in range(64)])
        out = self.db.search_batch(self.name, [[3.1] * 8, [40.2] * 8, [-5.0] * 8], k=2, plan="EXACT")
        self.assertEqual([[h["id"] for h in hits] for hits in out], [[3, 4], [40, 41], [0, 1]])

    def test_predict_one_and_many(self):
        self.create(extra=", label TEXT")
        vectors = [[float(i)] * 8 for i in range(40)]
        self.db.insert(self.name, list(range(40)), vectors,
                       {"label": ["low" if i < 20 else "high" for i in range(40)]})
        one = self.db.predict(self.name, "label", [3.0] * 8, k=5, neighbours=True)
        self.assertEqual(one["label"], "low")
        self.assertEqual(one["confidence"], 1.0)
        self.assertIn(one["dims"], (2, 4, 8))
        many = self.db.predict(self.name, "label", [[2.0] * 8, [35.0] * 8], k=5, confidence=1)
        self.assertEqual([p["label"] for p in many], ["low", "high"])
        self.assertEqual([p["dims"] for p in many], [8, 8])
        with self.assertRaises(mrldb.Error) as e:
            self.db.predict(self.name, "nope", [1.0] * 8)
        self.assertIn("no column", str(e.exception))

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_numpy_arrays_in_and_out(self):
        self.create()
        rng = np.random.default_rng(3)
        vectors = rng.standard_normal((2000, 8)).astype(np.float32)
        ids = np.arange(2000, dtype=np.int64)
        self.assertEqual(self.db.insert(self.name, ids, vectors, batch_rows=700), 2000)
        q = rng.standard_normal(8).astype(np.float32)
        truth = np.argsort(((vectors - q) ** 2).sum(axis=1))[:10]
        hits = self.db.search(self.name, q, k=10, plan="EXACT")
        self.assertEqual([h["id"] for h in hits], truth.tolist())
        out = self.db.search_batch(self.name, vectors[:5], k=1, plan="EXACT")
        self.assertEqual([hits[0]["id"] for hits in out], [0, 1, 2, 3, 4])
        with mrldb.connect(self.server.address, numpy_vectors=True) as c:
            r = c.execute("SELECT embedding FROM %s WHERE id = 17" % self.name)
            self.assertIsInstance(r.rows[0][0], np.ndarray)
            np.testing.assert_array_equal(r.rows[0][0], vectors[17])
        with self.assertRaises(ValueError):
            self.db.execute("SELECT 1", [np.zeros((2, 2, 2), dtype=np.float32)])

    def test_vectors_of_any_real_numbers(self):
        import fractions
        self.create(dim=4)
        self.db.insert(self.name, [1], [[1, 2.5, fractions.Fraction(1, 4), 0]])
        self.assertEqual(self.db.execute("SELECT embedding FROM %s" % self.name).rows,
                         [([1.0, 2.5, 0.25, 0.0],)])
        for bad in ([1, True, 0, 0], [1, "2", 0, 0], [1, None, 0, 0]):
            with self.assertRaises(TypeError):
                self.db.search(self.name, bad, k=1)

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_lists_of_numpy_scalars_are_vectors(self):
        self.create(dim=4)
        row = [np.float32(0.5), np.float64(1.5), np.int64(2), np.float16(-1)]
        self.db.insert(self.name, [np.int64(7)], [row])
        hits = self.db.search(self.name, [np.float32(x) for x in (0.5, 1.5, 2, -1)], k=1,
                              plan="EXACT")
        self.assertEqual(hits[0]["id"], 7)
        self.assertEqual(self.db.execute("SELECT embedding FROM %s" % self.name).rows,
                         [([0.5, 1.5, 2.0, -1.0],)])
        with self.assertRaises(TypeError):
            self.db.search(self.name, [np.float32(1), np.bool_(True), 0, 0], k=1)

    def test_concurrent_connections_each_insert_their_rows(self):
        self.create()
        errors = []

        def work(t):
            try:
                with self.server.connect() as c:
                    for b in range(5):
                        ids = [t * 1000 + b * 100 + i for i in range(100)]
                        c.insert(self.name, ids, [[float(t), float(b)] + [0.0] * 6] * 100)
                        c.search(self.name, [0.0] * 8, k=3)
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        r = self.db.execute("DESCRIBE %s" % self.name)
        self.assertIn(("(rows)", "BIGINT", "2000"), r.rows)

    def test_copy_reports_progress_and_can_be_cancelled(self):
        self.create()
        path = os.path.join(self.server.copy_dir, "%s.csv" % self.name)
        with open(path, "w") as f:
            f.write("id,embedding\n")
            for i in range(5000):
                f.write('%d,"[%s]"\n' % (i, ",".join(["%d" % (i % 7)] * 8)))
        seen = []
        r = self.db.execute("COPY %s FROM '%s.csv' WITH (batch_size 1000)" % (self.name, self.name),
                            progress=lambda done, total: seen.append(done))
        self.assertEqual(r.rows_affected, 5000)
        self.assertEqual(seen, [1000, 2000, 3000, 4000, 5000])
        self.db.execute("DELETE FROM %s" % self.name)
        # Returning False sends CANCEL: the COPY stops between batches. The server may commit a
        # batch or two more before the frame reaches it; committed batches stay, whole.
        with self.assertRaises(mrldb.Error) as e:
            self.db.execute("COPY %s FROM '%s.csv' WITH (batch_size 500)" % (self.name, self.name),
                            progress=lambda done, total: done < 1000)
        self.assertEqual(e.exception.code_name, "CANCELLED")
        rows = dict((r[0], r[2]) for r in self.db.execute("DESCRIBE %s" % self.name).rows)
        kept = int(rows["(rows)"])
        self.assertTrue(1000 <= kept < 5000 and kept % 500 == 0, kept)
        # Outside the copy directory: refused.
        with self.assertRaises(mrldb.Error) as e:
            self.db.execute("COPY %s FROM '../x.csv'" % self.name)
        self.assertIn("inside its COPY directory", e.exception.message)

    def test_close_is_final_and_idempotent(self):
        c = self.server.connect()
        c.ping()
        c.close()
        c.close()
        self.assertTrue(c.closed)
        with self.assertRaises(mrldb.Error):
            c.execute("SHOW COLLECTIONS")

    def test_bad_addresses(self):
        with self.assertRaises(ValueError):
            mrldb.connect("no-port")
        with self.assertRaises(mrldb.Error):
            mrldb.connect("127.0.0.1:1", timeout=2)  # nothing listens on port 1


class TokenTest(unittest.TestCase):
    def test_token_is_required_and_checked(self):
        server = Server(token="s3cret")
        try:
            with self.assertRaises(mrldb.Error) as e:
                server.connect()
            self.assertEqual(e.exception.code_name, "AUTH_FAILED")
            with self.assertRaises(mrldb.Error) as e:
                server.connect(token="wrong")
            self.assertEqual(e.exception.code_name, "AUTH_FAILED")
            with server.connect(token="s3cret") as c:
                self.assertEqual(c.execute("SHOW COLLECTIONS").tag, "SHOW 0")
            self.assertEqual(server.stop(), 0)
        finally:
            server.cleanup()


class ShutdownTest(unittest.TestCase):
    def test_acknowledged_writes_survive_sigterm(self):
        server = Server()
        try:
            with server.connect() as c:
                c.execute("CREATE COLLECTION d (id BIGINT PRIMARY KEY, embedding VECTOR(4) METRIC L2)")
                for b in range(10):
                    c.insert("d", list(range(b * 50, b * 50 + 50)), [[1.0, 2.0, 3.0, float(b)]] * 50)
                self.assertEqual(server.stop(), 0)
            db_dir = os.path.join(server.dir, "db")
            out = subprocess.run([MRLDB_BIN, "--db", db_dir, "--format", "csv", "-c",
                                  "DESCRIBE d"], capture_output=True, text=True, check=True).stdout
            self.assertIn("(rows),BIGINT,500", out)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
