#!/usr/bin/env python3
"""The Python client over the wire, measured against a real `mrldb serve` it starts:

- fetch: SELECT id, embedding ... LIMIT rows, as numpy arrays (Result.fetch_numpy) and as rows
  of Python lists (Result.rows), MB/s of vector and id bytes;
- import: copy_from of an array (COPY ... FROM STDIN, npy bytes) against insert() (multi-row
  INSERT statements with binary vector parameters: what copy_from sent before COPY went over
  the wire) and against the server's own COPY of the same rows from a .npy file in its COPY
  directory, MB/s of vector bytes.

    /usr/bin/python3 bench/python_wire.py --bin build/shell/mrldb --rows 100000 --dim 256

Prints one line per measurement (fetches: the median of --repeat runs). The server's background
indexer builds the graph of the first collection meanwhile, on the same cores (the others are
dropped once measured).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import mrldb  # noqa: E402
import numpy as np  # noqa: E402


def serve(binary, directory):
    os.makedirs(os.path.join(directory, "files"))
    proc = subprocess.Popen([binary, "serve", "--db", os.path.join(directory, "db"), "--listen",
                             "127.0.0.1:0", "--auto-tune", "off", "--copy-dir",
                             os.path.join(directory, "files")], stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"listening on (\S+:\d+)", line)
        if m:
            threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
            return proc, m.group(1)
    raise RuntimeError("mrldb serve did not start")


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/shell/mrldb")
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--insert-rows", type=int, default=None,
                    help="rows for the insert() comparison (default: --rows)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    directory = tempfile.mkdtemp(prefix="mrldb-pybench-")
    proc, address = serve(a.bin, directory)
    try:
        db = mrldb.connect(address)
        x = np.random.default_rng(1).standard_normal((a.rows, a.dim)).astype(np.float32)
        ids = np.arange(a.rows, dtype=np.int64)
        create = "CREATE COLLECTION %s (id BIGINT PRIMARY KEY, embedding VECTOR(%d) METRIC L2)"
        mb = x.nbytes / 1e6

        db.execute(create % ("c", a.dim))
        t = timed(lambda: db.copy_from("c", x, ids=ids), 1)
        print("copy_from  %d x %d: %.2f s, %.0f MB/s (COPY FROM STDIN, npy)" % (a.rows, a.dim, t, mb / t))
        np.save(os.path.join(directory, "files", "x.npy"), x)
        with open(os.path.join(directory, "files", "x.ids.txt"), "w") as f:
            f.write("".join("%d\n" % i for i in ids))
        db.execute(create % ("f", a.dim))
        t = timed(lambda: db.execute("COPY f FROM 'x.npy'"), 1)
        print("server COPY %d x %d: %.2f s, %.0f MB/s (a file in its COPY directory)" % (a.rows, a.dim, t, mb / t))
        db.execute("DROP COLLECTION f")  # its graph build would slow what follows
        n = a.insert_rows or a.rows
        db.execute(create % ("i", a.dim))
        t = timed(lambda: db.insert("i", ids[:n], x[:n]), 1)
        print("insert()   %d x %d: %.2f s, %.0f MB/s (INSERT statements)" % (n, a.dim, t, x[:n].nbytes / 1e6 / t))
        db.execute("DROP COLLECTION i")

        sql = "SELECT id, embedding FROM c LIMIT %d" % a.rows
        fetched = {}

        def fetch_numpy():
            fetched.update(db.execute(sql).fetch_numpy())
        t = timed(fetch_numpy, a.repeat)
        assert fetched["embedding"].shape == (a.rows, a.dim)
        np.testing.assert_array_equal(fetched["embedding"][np.argsort(fetched["id"])], x)
        fetch_mb = mb + ids.nbytes / 1e6
        print("fetch_numpy %d x %d: %.3f s, %.0f MB/s (median of %d)" % (a.rows, a.dim, t, fetch_mb / t, a.repeat))
        t = timed(lambda: db.execute(sql).rows, 1)
        print("rows       %d x %d: %.3f s, %.0f MB/s (tuples of lists)" % (a.rows, a.dim, t, fetch_mb / t))
        db.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
