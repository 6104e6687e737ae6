"""mrldb's Python client: talks to `mrldb serve` over the wire protocol (docs/protocol.md).

    import mrldb
    with mrldb.connect("127.0.0.1:7733") as db:
        db.execute("CREATE COLLECTION docs (id BIGINT PRIMARY KEY, embedding VECTOR(4) METRIC L2)")
        db.insert("docs", [1, 2], [[0, 0, 1, 1], [1, 1, 0, 0]])
        hits = db.search("docs", [0, 0, 1, 0], k=1)    # [{'id': 1, 'distance': 1.0}]

Standard library only; numpy arrays are accepted wherever vectors are, when numpy is installed.
"""

from .client import COLUMN_TYPES, PROTOCOL_VERSION, Connection, connect
from .errors import ERROR_CODES, Error
from .result import Result

__all__ = ["connect", "Connection", "Error", "Result", "PROTOCOL_VERSION", "ERROR_CODES",
           "COLUMN_TYPES"]
__version__ = "0.1.0"
