// Tab completion in the interactive shell: SQL keywords, collection names, the column names of
// the collections the statement names, and backslash commands at the start of a line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "shell/backend.h"

namespace mrldb::shell {

// The words that complete `word`, the word under the cursor, given the text before it:
// backslash commands when the line starts with '\', else collection names after FROM, INTO,
// UPDATE, COLLECTION, DESCRIBE and TUNE, else keywords, collections and `columns`. Keywords
// follow the case the user typed (sel -> select). Sorted, without duplicates.
std::vector<std::string> Completions(std::string_view before, std::string_view word,
                                     const std::vector<std::string>& collections,
                                     const std::vector<std::string>& columns);

// The collections `statement` names (after FROM, INTO, UPDATE, COLLECTION, DESCRIBE, TUNE, COPY)
// that are among `collections`.
std::vector<std::string> NamedCollections(std::string_view statement,
                                          const std::vector<std::string>& collections);

// Hooks Completions into libedit; names are read from `backend` (SHOW COLLECTIONS, DESCRIBE)
// at each completion, so they are never stale. No-op without libedit.
void InstallCompletion(Backend* backend);

}  // namespace mrldb::shell
