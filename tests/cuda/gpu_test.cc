// GPU tests run on a machine with a CUDA device and skip, saying why, everywhere else.
#include <gtest/gtest.h>

#include "cuda/gpu_info.h"

namespace mrldb::gpu {
namespace {

TEST(Gpu, DeviceSelfTestMatchesCpu) {
  auto devices = ListDevices();
  if (!devices.ok()) GTEST_SKIP() << "no GPU: " << devices.status().message();
  for (const auto& d : *devices) {
    SCOPED_TRACE(d.name);
    EXPECT_GT(d.total_memory, 0u);
    Status st = SelfTest(d.index);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
}

TEST(Gpu, NoDeviceIsReportedAsNotSupported) {
  auto devices = ListDevices();
  if (devices.ok()) GTEST_SKIP() << "a GPU is present";
  EXPECT_EQ(devices.status().code(), Status::Code::kNotSupported) << devices.status().ToString();
  EXPECT_EQ(SelfTest(0).code(), Status::Code::kNotSupported);
}

}  // namespace
}  // namespace mrldb::gpu
