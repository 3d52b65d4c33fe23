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
  // Slow enough to watch the progress: about 4 s for the device.
  o.chunk_flags = {"--resync_rate=128M"};
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
  // Progress as `scalefs status` shows it: A SyncSource, B SyncTarget.
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    auto a = MemberInfo(c, 0, 0), b = MemberInfo(c, 0, 1);
    if (a.ok() && b.ok() && a->connection_state() == "SyncSource" &&
        a->sync_done_bytes() > 0 && a->sync_done_bytes() < a->sync_total_bytes()) {
      seen = true;
      EXPECT_EQ(a->sync_total_bytes(), kDevice);
      EXPECT_EQ(a->peer_disk_state(), "Inconsistent");
      EXPECT_EQ(b->connection_state(), "SyncTarget");
      EXPECT_EQ(b->disk_state(), "Inconsistent");
      EXPECT_LT(a->sync_rate_bytes_per_sec(), 160u << 20) << "--resync_rate not applied";
      std::printf("sync %lu of %lu bytes at %lu bytes/s\n",
                  static_cast<unsigned long>(a->sync_done_bytes()),
                  static_cast<unsigned long>(a->sync_total_bytes()),
                  static_cast<unsigned long>(a->sync_rate_bytes_per_sec()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(seen) << "never saw the full sync in progress";
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
