// Helpers for the mrldb::formats tests.
#pragma once

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "query/formats/formats.h"
#include "tests/test_util.h"

namespace mrldb::formats {

// EXPECT that `text` contains `part`.
#define EXPECT_CONTAINS(text, part)                                   \
  do {                                                                \
    const std::string _t = (text);                                    \
    EXPECT_NE(_t.find(part), std::string::npos) << "message: " << _t; \
  } while (0)

class FormatsTest : public ::testing::Test {
 protected:
  FormatsTest() { std::filesystem::create_directories(dir_.path()); }

  std::string P(const std::string& name) const { return dir_.path() + "/" + name; }

  std::string Write(const std::string& name, std::string_view bytes) const {
    std::ofstream f(P(name), std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return P(name);
  }

  static std::string Slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  // The error of opening `path` and reading it to the end ("" when there is none).
  static std::string ErrorOf(const std::string& path, const ReadOptions& o = {}) {
    auto all = ReadAll(path, o);
    return all.ok() ? "" : all.status().ToString();
  }

  static Batch ReadOk(const std::string& path, const ReadOptions& o = {}) {
    auto all = ReadAll(path, o);
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    return all.ok() ? std::move(all).value() : Batch{};
  }

  // Writes `b` in slices of `slice` rows and finishes.
  static void WriteOk(const std::string& path, const WriteOptions& o, const Batch& b,
                      size_t slice = 1000) {
    auto w = VectorWriter::Create(path, o);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (size_t first = 0; first < b.rows(); first += slice) {
      Batch part;
      part.dim = b.dim;
      for (size_t i = first; i < std::min(b.rows(), first + slice); ++i) {
        part.vectors.insert(part.vectors.end(), b.vector(i).begin(), b.vector(i).end());
        if (!b.ids.empty()) part.ids.push_back(b.ids[i]);
        if (!b.attributes.empty()) part.attributes.push_back(b.attributes[i]);
      }
      ASSERT_OK((*w)->Write(part));
    }
    ASSERT_OK((*w)->Finish());
    EXPECT_EQ((*w)->rows_written(), b.rows());
  }

  // Finite floats of all magnitudes (random bit patterns, subnormals included).
  static std::vector<float> OddFloats(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<float> v;
    while (v.size() < n) {
      const uint32_t bits = rng();
      float f;
      std::memcpy(&f, &bits, 4);
      if (std::isfinite(f)) v.push_back(f);
    }
    return v;
  }

  static std::vector<uint32_t> Bits(const std::vector<float>& v) {
    std::vector<uint32_t> b(v.size());
    std::memcpy(b.data(), v.data(), v.size() * 4);
    return b;
  }

  // A .npy file: magic, version, header length, the dict padded to 64 bytes, then `data`.
  static std::string Npy(std::string_view dict, std::string_view data, int major = 1,
                         int minor = 0) {
    const size_t len_bytes = major == 1 ? 2 : 4;
    std::string header(dict);
    while ((6 + 2 + len_bytes + header.size() + 1) % 64 != 0) header.push_back(' ');
    header.push_back('\n');
    std::string out = "\x93NUMPY";
    out.push_back(static_cast<char>(major));
    out.push_back(static_cast<char>(minor));
    for (size_t i = 0; i < len_bytes; ++i) out.push_back(static_cast<char>(header.size() >> (8 * i)));
    return out + header + std::string(data);
  }

  template <typename T>
  static std::string Bytes(const std::vector<T>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }

  testing::TempDir dir_;
};

}  // namespace mrldb::formats
