// Internal to mrldb::formats: the per-format readers and writers behind VectorReader::Open and
// VectorWriter::Create. Each takes options already checked by them (see formats.cc).
#pragma once

#include <memory>
#include <string>

#include "query/formats/formats.h"
#include "query/formats/io.h"

namespace mrldb::formats {

// The per-format reader subclasses reach VectorReader's protected members through this.
Result<std::unique_ptr<VectorReader>> OpenNpyReader(std::unique_ptr<InputFile> file,
                                                    const ReadOptions& options);
Result<std::unique_ptr<VectorReader>> OpenFvecsReader(std::unique_ptr<InputFile> file,
                                                      const ReadOptions& options);
Result<std::unique_ptr<VectorReader>> OpenCsvReader(std::unique_ptr<InputFile> file,
                                                    const ReadOptions& options);
Result<std::unique_ptr<VectorReader>> OpenJsonlReader(std::unique_ptr<InputFile> file,
                                                      const ReadOptions& options);

Result<std::unique_ptr<VectorWriter>> CreateNpyWriter(const std::string& path,
                                                      const WriteOptions& options);
Result<std::unique_ptr<VectorWriter>> CreateFvecsWriter(const std::string& path,
                                                        const WriteOptions& options);
Result<std::unique_ptr<VectorWriter>> CreateCsvWriter(const std::string& path,
                                                      const WriteOptions& options);
Result<std::unique_ptr<VectorWriter>> CreateJsonlWriter(const std::string& path,
                                                        const WriteOptions& options);

// The largest vector dimension mrldb stores.
inline constexpr uint32_t kMaxDim = 65536;

}  // namespace mrldb::formats
