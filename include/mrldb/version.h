// The library's version, for applications that embed it and for the wire handshake.
#pragma once

#include <string_view>

namespace mrldb {

// "MAJOR.MINOR.PATCH" of the mrldb library this program runs with.
std::string_view Version();

}  // namespace mrldb
