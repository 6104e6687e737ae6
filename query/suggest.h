// "Did you mean": the likely intended name for a misspelt collection, column, keyword or shell
// command, by edit distance.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mrldb::query {

// The candidate nearest to `word` (ASCII case ignored; a swap of two neighbouring letters is one
// edit) when it is near enough to be a typo: at most 1 edit for words of 3 or 4 letters, 2 up
// to 8, 3 beyond; shorter words get no guess. Ties go to the earlier candidate. Empty when none is that near, or when
// `word` is itself a candidate.
std::string ClosestName(std::string_view word, const std::vector<std::string>& candidates);

// `; did you mean "x"?` (`"x"` quoted as shown, or bare for keywords when !quote), or "".
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates,
                       bool quote = true);

}  // namespace mrldb::query
