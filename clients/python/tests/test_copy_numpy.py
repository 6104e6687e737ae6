"""copy_from / copy_to over the wire and results as numpy arrays, against a real `mrldb serve`
(see test_client.py). The server has a COPY directory, but these never use it: the files are
this side's."""

import io
import os
import unittest

from test_client import ServerTestCase, mrldb, np


class CopyAndNumpyTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.here = os.path.join(cls.server.dir, "client-side")
        os.makedirs(cls.here)

    def setUp(self):
        self.db = self.server.connect()
        self.name = "c_" + self.id().split(".")[-1].lower()
        for suffix in ("", "_back"):
            self.db.execute("DROP COLLECTION IF EXISTS %s%s" % (self.name, suffix))
            self.db.execute("CREATE COLLECTION %s%s (id BIGINT PRIMARY KEY, embedding VECTOR(4) "
                            "METRIC L2, tag TEXT)" % (self.name, suffix))

    def tearDown(self):
        self.db.close()

    def path(self, name):
        return os.path.join(self.here, "%s_%s" % (self.name, name))

    def test_every_format_round_trips_through_local_files(self):
        csv = self.path("in.csv")
        with open(csv, "w") as f:
            f.write("id,embedding,tag\n")
            for i in range(300):
                f.write('%d,"[%d, 1, 2, 3]",%s\n' % (i, i, "t%d" % i if i % 3 else ""))
        self.assertEqual(self.db.copy_from(self.name, csv, batch_rows=64), 300)
        for ext in ("jsonl", "csv", "npy", "fvecs"):
            out = self.path("out-%s.%s" % (ext, ext))
            self.assertEqual(self.db.copy_to(self.name, out), 300)
            self.assertFalse(os.path.exists(out + ".partial"))
            self.db.execute("DELETE FROM %s_back WHERE id >= 0" % self.name)
            self.assertEqual(self.db.copy_from(self.name + "_back", out), 300, ext)
            row = self.db.get(self.name + "_back", [7])[0]
            self.assertEqual(row["embedding"], [7.0, 1.0, 2.0, 3.0])
            self.assertEqual(row["tag"], None if ext in ("npy", "fvecs") else "t7")
        self.assertTrue(os.path.exists(self.path("out-npy.ids.txt")))  # npy's ids, by its side
        with self.assertRaises(FileExistsError):
            self.db.copy_to(self.name, self.path("out-csv.csv"))
        self.assertEqual(self.db.copy_to(self.name, self.path("out-csv.csv"), overwrite=True,
                                         options={"header": False, "delimiter": ";"}), 300)
        with open(self.path("out-csv.csv")) as f:
            self.assertEqual(f.readline(), '0;[0,1,2,3];\n')
        # File objects: the format given.
        buf = io.BytesIO()
        self.assertEqual(self.db.copy_to(self.name, buf, format="jsonl"), 300)
        self.db.execute("DELETE FROM %s_back WHERE id >= 0" % self.name)
        self.assertEqual(self.db.copy_from(self.name + "_back", io.BytesIO(buf.getvalue()),
                                           format="jsonl"), 300)
        with self.assertRaises(ValueError):
            self.db.copy_to(self.name, io.BytesIO(), format="npy")  # the ids need a file too
        with self.assertRaises(mrldb.Error):
            self.db.copy_to("nope", self.path("nope.csv"))
        self.assertFalse(os.path.exists(self.path("nope.csv")))

    def test_bad_data_is_an_error_naming_its_place(self):
        bad = self.path("bad.jsonl")
        with open(bad, "w") as f:
            for i in range(5):
                f.write('{"id": %d, "embedding": [1, 2, 3, 4]}\n' % i)
            f.write('{"id": 5, "embedding": [1, 2, 3]}\n')
        with self.assertRaises(mrldb.Error) as e:
            self.db.copy_from(self.name, bad, batch_rows=2)
        self.assertIn("STDIN: line 6", e.exception.message)
        self.assertIn("(4 rows committed before the error)", e.exception.message)
        self.assertEqual(self.db.count(self.name), 4)
        with self.assertRaises(mrldb.Error) as e:  # a COPY FROM STDIN needs copy_from's data
            self.db.execute("COPY %s FROM STDIN WITH (format csv)" % self.name)
        self.assertIn("COPY ... FROM STDIN needs the data: use copy_from()", e.exception.message)
        with self.assertRaises(mrldb.Error) as e:
            self.db.execute("COPY %s TO STDOUT WITH (format csv)" % self.name)
        self.assertIn("use copy_to()", e.exception.message)
        with self.assertRaises(ValueError):
            self.db.copy_from(self.name, [[1, 2, 3, 4]], ids=["a\nb"])
        with self.assertRaises(ValueError):
            self.db.copy_from(self.name, self.path("x.txt"))
        self.assertEqual(self.db.count(self.name), 4)  # and the connection goes on

    def test_vectors_with_attributes_travel_as_jsonl(self):
        n = self.db.copy_from(self.name, [[1, 2, 3, 4], [5, 6, 7, 8]], ids=[10, 11],
                              attributes={"tag": ["x", None]})
        self.assertEqual(n, 2)
        self.assertEqual(self.db.get(self.name, [10, 11], columns=("id", "tag")),
                         [{"id": 10, "tag": "x"}, {"id": 11, "tag": None}])

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_arrays_in_and_numpy_out(self):
        rng = np.random.default_rng(8)
        x = rng.standard_normal((5000, 4)).astype(np.float32)
        ids = np.arange(5000, dtype=np.int64) * 2
        self.assertEqual(self.db.copy_from(self.name, x, ids=ids, batch_rows=1000), 5000)
        self.db.execute("UPDATE %s SET tag = 'even' WHERE id < 100" % self.name)
        r = self.db.execute("SELECT id, distance, embedding, tag FROM %s ORDER BY embedding <-> $1 "
                            "LIMIT 50 USING EXACT" % self.name, [x[3]])
        cols = r.fetch_numpy()
        self.assertEqual(list(cols), ["id", "distance", "embedding", "tag"])
        self.assertEqual(cols["id"].dtype, np.int64)
        self.assertEqual(cols["id"][0], 6)
        self.assertEqual(cols["distance"].dtype, np.float64)
        self.assertEqual(cols["embedding"].shape, (50, 4))
        self.assertEqual(cols["embedding"].dtype, np.float32)
        np.testing.assert_array_equal(cols["embedding"][0], x[3])
        truth = np.argsort(((x - x[3]) ** 2).sum(axis=1), kind="stable")[:50] * 2
        np.testing.assert_array_equal(np.sort(cols["id"]), np.sort(truth))
        self.assertEqual(cols["tag"].dtype, object)  # TEXT: str or None
        self.assertEqual([t for t in cols["tag"] if t is not None], ["even"] * sum(cols["id"] < 100))
        self.assertEqual(len(r), 50)
        self.assertEqual(r.to_numpy().keys(), cols.keys())
        self.assertEqual(r.rows[0][0], 6)  # the rows of the same frames
        # NULLs in a numeric column: a masked array.
        self.db.execute("ALTER COLLECTION %s ADD COLUMN n INT" % self.name)
        self.db.execute("UPDATE %s SET n = 7 WHERE id = 0" % self.name)
        n = self.db.execute("SELECT id, n FROM %s WHERE id IN (0, 2) ORDER BY id" % self.name).fetch_numpy()["n"]
        self.assertIsInstance(n, np.ma.MaskedArray)
        self.assertEqual(n.mask.tolist(), [False, True])
        self.assertEqual(int(n[0]), 7)
        empty = self.db.execute("SELECT id, embedding FROM %s WHERE id = -1" % self.name).fetch_numpy()
        self.assertEqual(empty["id"].shape, (0,))
        # The array back out: the same float32 bits.
        buf, id_buf = io.BytesIO(), io.BytesIO()
        self.assertEqual(self.db.copy_to(self.name, buf, ids=id_buf, format="npy"), 5000)
        buf.seek(0)
        back = np.load(buf)
        order = np.argsort([int(k) for k in id_buf.getvalue().split()])
        np.testing.assert_array_equal(back[order], x)

    def test_to_pandas_needs_pandas(self):
        r = self.db.execute("SELECT id FROM %s" % self.name)
        try:
            import pandas  # noqa: F401
        except ImportError:
            with self.assertRaises(ImportError) as e:
                r.to_pandas()
            self.assertIn("to_pandas() needs pandas", str(e.exception))
            self.assertIn("fetch_numpy()", str(e.exception))
        else:
            self.assertEqual(list(r.to_pandas().columns), ["id"])


if __name__ == "__main__":
    unittest.main()
