#!/usr/bin/env python3
"""The layering of docs/architecture.md, checked on the sources: which folder may include what.

  python3 tests/layering_test.py SOURCE_DIR

Exits 1 and names every offending #include when a layer reaches one it must not. A header
named "mrldb/x.h" must exist in include/mrldb/ (the public headers live nowhere else).
"""
import pathlib
import re
import sys

# folder -> the project folders its #include "..." lines must not name
FORBIDDEN = {
    "include": ["engine/", "storage/", "query/", "cuda/", "server/", "client/", "shell/", "cli/"],
    "api": ["engine/", "storage/", "query/", "cuda/", "server/", "client/", "shell/", "cli/"],
    "storage": ["engine/", "query/", "cuda/", "server/", "client/", "shell/"],
    "cuda": ["engine/", "storage/", "query/", "server/", "client/", "shell/"],
    "engine": ["query/", "server/", "client/", "shell/", "cli/"],
    "query": ["cuda/", "server/", "client/", "shell/"],
    "client": ["engine/", "storage/", "query/", "cuda/", "server/", "shell/"],
    "shell": ["cuda/", "storage/"],
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    public = {p.name for p in (root / "include" / "mrldb").glob("*.h")}
    if not public:
        print(f"no public headers in {root / 'include' / 'mrldb'}")
        return 1
    bad = []
    checked = 0
    for folder, banned in FORBIDDEN.items():
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in {".h", ".cc", ".cu", ".cuh"}:
                continue
            checked += 1
            for m in INCLUDE.finditer(path.read_text(errors="replace")):
                inc = m.group(1)
                line = path.read_text(errors="replace")[: m.start()].count("\n") + 1
                where = f"{path.relative_to(root)}:{line}"
                if any(inc.startswith(b) for b in banned):
                    bad.append(f'{where}: #include "{inc}" crosses the layering ({folder}/ may not include {inc.split("/")[0]}/)')
                if inc.startswith("mrldb/") and inc[len("mrldb/"):] not in public:
                    bad.append(f'{where}: #include "{inc}" names no header of include/mrldb/')
    for b in bad:
        print(b)
    print(f"{checked} files checked, {len(bad)} layering errors")
    return 1 if bad or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
