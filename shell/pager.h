// Long results on a terminal go through a pager, as in psql.
#pragma once

#include <string>

namespace mrldb::shell {

// Writes `text` to standard output: through the pager when standard output is a terminal and
// the text is taller than it (or `always`), else directly. The pager is $MRLDB_PAGER, else
// $PAGER, else `less -FRSX` when less is installed (else `more`); an empty variable turns
// paging off. A pager quit early (q in less) is not an error.
void ShowPaged(const std::string& text, bool always);

}  // namespace mrldb::shell
