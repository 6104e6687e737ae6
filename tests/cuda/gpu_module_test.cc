// The CUDA module (cuda/gpu_module.h): cuBLAS and the kernels are loaded on first use, so a
// process that never searches on a GPU does not carry them. ctest runs each test in its own
// process, so "not loaded yet" below is about this test alone.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cuda/gpu_info.h"
#include "cuda/gpu_module.h"
#include "mrldb/database.h"
#include "tests/test_util.h"

namespace mrldb::gpu {
namespace {

using mrldb::testing::TempDir;

// The file of the first mapping whose path holds `name` ("" if none).
std::string MappedPath(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash != std::string::npos && line.find(name, slash) != std::string::npos) return line.substr(slash);
  }
  return "";
}

bool Mapped(const std::string& name) { return !MappedPath(name).empty(); }

TEST(GpuModule, IsNotMappedUntilTheDeviceBlocksAreNeeded) {
  if (!BuiltWithCuda()) GTEST_SKIP() << "built without CUDA: there is no module";
  if (Mapped(kModuleFile)) {
    // An earlier test of this process loaded it (the binary was run whole, not test by test as
    // ctest runs it): the check runs in a fresh process.
    ASSERT_EQ(std::getenv("MRLDB_MODULE_TEST_CHILD"), nullptr) << "mapped in a fresh process";
    const std::string cmd = "MRLDB_MODULE_TEST_CHILD=1 '" +
                            std::filesystem::read_symlink("/proc/self/exe").string() +
                            "' --gtest_filter=GpuModule.IsNotMappedUntilTheDeviceBlocksAreNeeded"
                            " > /dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return;
  }
  EXPECT_FALSE(Mapped("libcublas")) << "cuBLAS is mapped at start: the module is linked, not loaded";
  EXPECT_FALSE(Mapped(kModuleFile));
  // Opening a database, writing, searching and SHOW MEMORY (which lists the devices) load it
  // neither: only a search placed on a device does.
  TempDir dir;
  DatabaseOptions o;
  o.auto_tune = false;
  auto db = Database::Open(dir.path() + "/db", o);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  CollectionSpec spec;
  spec.name = "c";
  spec.id_type = IdType::kBigint;
  spec.dim = 16;
  Status st = (*db)->CreateCollection(spec);
  ASSERT_TRUE(st.ok()) << st.ToString();
  InsertBatch batch;
  std::vector<float> v(16, 0.5f);
  batch.Add(Key{int64_t{1}}, v);
  st = (*db)->Insert("c", batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE((*db)->Search("c", v, SearchOptions{}).ok());
  ASSERT_TRUE((*db)->GetMemory().ok());
  EXPECT_FALSE(Mapped("libcublas"));
  EXPECT_FALSE(Mapped(kModuleFile));
}

TEST(GpuModule, TheModuleOfThisBuildLoadsWithoutADevice) {
  if (!BuiltWithCuda()) GTEST_SKIP() << "built without CUDA: there is no module";
  const ModuleState& m = LoadModule();
  ASSERT_TRUE(m.loaded) << m.error;
  EXPECT_NE(m.path.find(kModuleFile), std::string::npos) << m.path;
  EXPECT_TRUE(Mapped("libcublas"));
  // Without a device, making device blocks fails as before the module existed: NotSupported
  // or IOError from the CUDA runtime, never a crash.
  if (ListDevices().ok()) return;
  auto blocks = DeviceBlocks::Create({8, 8}, DeviceBlocksOptions{});
  ASSERT_FALSE(blocks.ok());
  EXPECT_TRUE(blocks.status().code() == Status::Code::kNotSupported ||
              blocks.status().code() == Status::Code::kIOError) << blocks.status().ToString();
}

TEST(GpuModule, SaysWhereItLookedWhenTheModuleIsMissing) {
  if (!BuiltWithCuda()) GTEST_SKIP() << "built without CUDA: there is no module";
  const ModuleApi* api = nullptr;
  ModuleState st = TryLoadModule({"/nonexistent/lib/libmrldb_cuda.so", "libmrldb_cuda_absent.so"}, &api);
  EXPECT_FALSE(st.loaded);
  EXPECT_EQ(api, nullptr);
  EXPECT_NE(st.error.find("was not found"), std::string::npos) << st.error;
  EXPECT_NE(st.error.find("/nonexistent/lib/libmrldb_cuda.so"), std::string::npos) << st.error;
  EXPECT_NE(st.error.find("libmrldb_cuda_absent.so"), std::string::npos) << st.error;
  EXPECT_NE(st.error.find("MRLDB_CUDA_MODULE"), std::string::npos) << st.error;
}

TEST(GpuModule, RefusesAFileThatIsNotTheModule) {
  if (!BuiltWithCuda()) GTEST_SKIP() << "built without CUDA: there is no module";
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string junk = dir.path() + "/libmrldb_cuda.so";
  std::ofstream(junk) << "not a shared object";
  const ModuleApi* api = nullptr;
  ModuleState st = TryLoadModule({junk}, &api);
  EXPECT_FALSE(st.loaded);
  EXPECT_NE(st.error.find("could not be loaded"), std::string::npos) << st.error;
  EXPECT_NE(st.error.find(junk), std::string::npos) << st.error;

  // A real shared library without the entry point: fmt's, which this test links.
  const std::string fmt_lib = MappedPath("libfmt.so");
  ASSERT_FALSE(fmt_lib.empty());
  st = TryLoadModule({fmt_lib}, &api);
  EXPECT_FALSE(st.loaded);
  EXPECT_EQ(api, nullptr);
  EXPECT_NE(st.error.find("is not the CUDA module of this build"), std::string::npos) << st.error;
  EXPECT_NE(st.error.find(kModuleEntry), std::string::npos) << st.error;
}

}  // namespace
}  // namespace mrldb::gpu
