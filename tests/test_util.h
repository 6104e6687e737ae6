// Helpers shared by the test suites: a temporary directory per test and small data makers.
#pragma once

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mrldb/database.h"

namespace mrldb::testing {

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "_" + info->name() : "mrldb";
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    path_ = std::filesystem::temp_directory_path() /
            ("mrldb_test_" + name + "_" + std::to_string(std::random_device{}()));
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// A whole file's content ("" when it cannot be read).
inline std::string ReadFile(const std::string& path) {
  std::stringstream ss;
  ss << std::ifstream(path).rdbuf();
  return ss.str();
}

inline std::unique_ptr<Database> OpenOrDie(const std::string& path,
                                           const DatabaseOptions& o = {}) {
  auto db = Database::Open(path, o);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

inline std::vector<float> RandomVectors(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n * dim);
  for (auto& x : v) x = u(rng);
  return v;
}

// A version-1.0 .npy file of `n` x `d` values of type `descr` ("<f4", "<f2"), positioned after
// its header for the caller to write the values.
inline std::ofstream NpyFile(const std::string& path, const std::string& descr, size_t n, size_t d) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" +
                       std::to_string(n) + ", " + std::to_string(d) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  f.put(char(header.size() & 0xff));
  f.put(char(header.size() >> 8));
  f << header;
  return f;
}

// `n` rows of `d` float32 values as .npy, with ids 0..n-1 in <path minus .npy>.ids.txt.
inline void WriteNpy(const std::string& path, size_t n, size_t d) {
  std::ofstream f = NpyFile(path, "<f4", n, d);
  std::vector<float> row(d);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < d; ++j) row[j] = float((i * 31 + j * 17) % 101) / 101.0f;
    f.write(reinterpret_cast<const char*>(row.data()), std::streamsize(d * sizeof(float)));
  }
  std::ofstream ids(path.substr(0, path.size() - 4) + ".ids.txt");
  for (size_t i = 0; i < n; ++i) ids << i << '\n';
}

// Two runs of the same searches gave exactly the same hits: ids, distances, vectors.
inline void ExpectSameHits(const std::vector<std::vector<Hit>>& a,
                           const std::vector<std::vector<Hit>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size()) << "search " << i;
    for (size_t j = 0; j < a[i].size(); ++j) {
      EXPECT_EQ(a[i][j].id, b[i][j].id) << "search " << i << " hit " << j;
      EXPECT_EQ(a[i][j].distance, b[i][j].distance) << "search " << i << " hit " << j;
      EXPECT_EQ(a[i][j].vector, b[i][j].vector) << "search " << i << " hit " << j;
    }
  }
}

#define ASSERT_OK(expr)                                   \
  do {                                                    \
    ::mrldb::Status _s = (expr);                          \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

}  // namespace mrldb::testing
