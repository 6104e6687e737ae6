// Encoding of primary keys (for the 'i' index) and of row records ('r': key + attributes).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mrldb/status.h"
#include "mrldb/types.h"

namespace mrldb::storage {

// Order-preserving bytes of a key: BIGINT as 8 bytes big-endian with the sign bit flipped,
// TEXT as its raw bytes. REQUIRES: the key's type matches the collection's id type.
void AppendKeyBytes(std::string* dst, const Key& key);

// Row record layout: u8 key tag (1 BIGINT: fixed64; 2 TEXT: lp bytes), varint attribute count,
// then per attribute u8 tag (0 NULL, 1 INT fixed64, 2 FLOAT fixed64 double, 3 BOOL u8,
// 4 TEXT lp bytes).
std::string EncodeRow(const Key& key, const std::vector<Value>& attributes);
// Errors: Corruption.
Status DecodeRow(std::string_view bytes, Key* key, std::vector<Value>* attributes);

}  // namespace mrldb::storage
