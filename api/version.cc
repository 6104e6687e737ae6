#include "mrldb/version.h"

namespace mrldb {

std::string_view Version() { return MRLDB_VERSION; }

}  // namespace mrldb
