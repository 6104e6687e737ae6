#!/usr/bin/env bash
# Installs the build into a temporary prefix, builds examples/ against the installed package
# (find_package(mrldb), mrldb::mrldb) as a user's project would, and runs the example.
#   install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Each step's output goes to a log that is shown when the step fails.
trap 'echo "install_test: failed at line $LINENO; its output:"; cat "$work/log"' ERR
cmake --install "$build_dir" --prefix "$work/prefix" >"$work/log" 2>&1
test -f "$work/prefix/include/mrldb/database.h"
test -x "$work/prefix/bin/mrldb"
# With CUDA, the module loaded on first GPU use goes beside libmrldb (where the loader looks).
if [ -f "$build_dir/lib/libmrldb_cuda.so" ]; then
  test -f "$work/prefix/lib/libmrldb_cuda.so"
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$source_dir/examples" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" "${launcher[@]}" >"$work/log" 2>&1
cmake --build "$work/build" >"$work/log" 2>&1
# The installed library and nothing from the build tree.
# (ldd's output in a variable first: `ldd | grep -q` under pipefail fails whenever grep exits
# before ldd has written everything.)
libs=$(ldd "$work/build/quickstart")
[[ "$libs" == *"$work/prefix/lib/libmrldb.so"* ]] ||
  { echo "quickstart does not load the installed libmrldb:"; echo "$libs"; exit 1; }
"$work/build/quickstart" "$work/db" 20000 2>&1 | tee "$work/log"
# The installed shell reads what the application wrote.
out=$("$work/prefix/bin/mrldb" --db "$work/db" --format csv -c "SELECT id, topic FROM articles WHERE id = 42")
[ "$out" = $'id,topic\n42,2' ] || { echo "unexpected shell output: $out"; exit 1; }
