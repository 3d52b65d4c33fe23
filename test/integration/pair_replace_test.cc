// A member whose device is replaced by an empty one (image deleted, member
// restarted with the same --peer) is joined by the survivor and fully
// synced while the mount is busy; afterwards it alone serves the data.
#include <unistd.h>

#include <chrono>
#include <thread>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"
#include "test/integration/pair_util.h"

namespace scalefs::test {
namespace {

constexpr uint64_t kDevice = 512ull << 20;
constexpr uint64_t kSize = 128ull << 20;

TEST(PairReplace, EmptyDeviceGetsFullSyncThenServesAlone) {
  const auto t0 = std::chrono::steady_clock::now();
  ClusterOptions o;
  o.pairs = 1;
  o.device_size = kDevice;
  Cluster c(o);
  ASSERT_OK(c.Start());
  ASSERT_OK(WaitPairHealthy(c, 0, 30));
  const std::string first = c.mnt() + "/first", second = c.mnt() + "/second";
  ASSERT_OK(WritePatternFile(first, 1, kSize));

  c.Kill("pair0b");
  ASSERT_EQ(::unlink(c.DevicePath(0, 1).c_str()), 0);
  // The mount stays busy: a second file is written during the full sync.
  Status written;
  std::thread writer([&] { written = WritePatternFile(second, 2, kSize); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_OK(c.StartDaemon("pair0b"));
  writer.join();
  ASSERT_OK(written);
  ASSERT_OK(WaitPairHealthy(c, 0, 90));
  auto a = MemberInfo(c, 0, 0);
  ASSERT_OK(a.status());
  EXPECT_GE(a->resynced_bytes_total(), kDevice) << "not a full sync";
  ASSERT_OK(ReplicasIdentical(c, 0, kDevice));

  // The fresh member alone: A dies, the data is read from B.
  c.Kill("pair0a");
  ASSERT_OK(CheckPatternFile(first, 1, kSize)) << "read from the resynced member alone";
  ASSERT_OK(CheckPatternFile(second, 2, kSize));
  std::printf("test took %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace
}  // namespace scalefs::test
