"""mrldb.Error: what the server refused, or a lost connection."""

from typing import Dict, Optional

ERROR_CODES: Dict[int, str] = {
    1: "INVALID_ARGUMENT", 2: "NOT_FOUND", 3: "ALREADY_EXISTS", 4: "CORRUPTION",
    5: "IO_ERROR", 6: "NOT_SUPPORTED", 7: "VERSION_MISMATCH", 8: "INTERNAL", 9: "CANCELLED",
    10: "READ_ONLY",
    64: "PROTOCOL", 65: "AUTH_FAILED", 66: "LIMIT", 67: "TIMEOUT", 68: "SHUTDOWN",
}


class Error(Exception):
    """An error the server sent (a statement that failed, a refused connection) or a
    connection problem (code None)."""

    def __init__(self, message: str, code: Optional[int] = None, line: int = 0, column: int = 0,
                 fatal: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.code_name = ERROR_CODES.get(code, "CONNECTION" if code is None else str(code))
        self.line = line
        self.column = column
        self.fatal = fatal

    def __str__(self) -> str:
        return "%s: %s" % (self.code_name, self.message)

    def format(self, sql: str) -> str:
        """The error as the mrldb shell prints it: the message, then the statement's line with
        a caret under the offending column when the server gave a position."""
        out = "ERROR:  %s" % self.message
        lines = sql.split("\n")
        if 1 <= self.line <= len(lines) and self.column >= 1:
            prefix = "LINE %d: " % self.line
            out += "\n%s%s\n%s^" % (prefix, lines[self.line - 1], " " * (len(prefix) + self.column - 1))
        return out


def malformed(what: str) -> Error:
    """A frame from the server that breaks docs/protocol.md."""
    return Error("malformed frame from the server: %s" % what, code=64, fatal=True)
