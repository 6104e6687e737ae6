// Reading a saved HNSW graph (hnswlib's file layout, which PrefixIndex::Save writes itself)
// with large sequential reads. hnswlib's own loadIndex checks the file with two tellg and one
// seekg per node on a std::ifstream, each an lseek system call: about a tenth of the CPU of a
// benchmark run that reopened a 10M-node graph (docs/benchmarks.md, "Loading the graph").
#pragma once

#include <memory>
#include <string>

#include <hnswlib/hnswlib.h>

#include "mrldb/status.h"

namespace mrldb {

// Reads the graph in `file` for `space` (which gives the data size and the distance). Errors:
// IOError when the file cannot be read, Corruption when its sizes do not add up to the file.
Result<std::unique_ptr<hnswlib::HierarchicalNSW<float>>> ReadGraphFile(
    const std::string& file, hnswlib::SpaceInterface<float>* space);

}  // namespace mrldb
