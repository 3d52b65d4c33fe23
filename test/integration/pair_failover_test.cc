// A member SIGKILLed in the middle of a 1 GiB write through the mount: the
// writer sees no error (its client fails over and the survivor writes alone
// with meta's grant); the member restarts, gets only the regions changed
// while it was away, and the pair ends Connected UpToDate/UpToDate with
// byte-identical replicas.
#include <chrono>
#include <csignal>
#include <thread>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"
#include "test/integration/pair_util.h"

namespace scalefs::test {
namespace {

constexpr uint64_t kSize = 1ull << 30;
constexpr uint64_t kSeed = 0xfa11;

TEST(PairFailover, MemberKilledMidWriteResyncsOnlyChangedRegions) {
  const auto t0 = std::chrono::steady_clock::now();
  Cluster c;
  ASSERT_OK(c.Start());
  ASSERT_OK(WaitPairHealthy(c, 0, 30));
  const std::string path = c.mnt() + "/big";
  Status written;
  std::thread writer([&] { written = WritePatternFile(path, kSeed, kSize); });
  ASSERT_TRUE(WaitFileSize(path, kSize / 3, 120)) << "writer made no progress";
  c.Kill("pair0b");
  writer.join();
  ASSERT_OK(written) << "the writer saw an error although one member survived";

  auto a = MemberInfo(c, 0, 0);
  ASSERT_OK(a.status());
  EXPECT_TRUE(a->solo()) << StateLine(*a);
  EXPECT_GT(a->out_of_sync_bytes(), 0u) << StateLine(*a);

  ASSERT_OK(c.StartDaemon("pair0b"));
  ASSERT_OK(WaitPairHealthy(c, 0, 60));
  a = MemberInfo(c, 0, 0);
  ASSERT_OK(a.status());
  EXPECT_FALSE(a->solo());
  EXPECT_GT(a->resynced_bytes_total(), 0u);
  // Only what changed while B was away (about 2/3 of the half of the file
  // on this pair), not the whole device.
  EXPECT_LT(a->resynced_bytes_total(), a->device_size() * 3 / 4) << a->resynced_bytes_total();
  ASSERT_OK(ReplicasIdentical(c, 0, a->device_size()));
  ASSERT_OK(ReplicasIdentical(c, 1, a->device_size()));
  ASSERT_OK(CheckPatternFile(path, kSeed, kSize));
  EXPECT_EQ(c.Cli({"fsck"}), 0);
  std::printf("resynced %lu bytes; test took %.1f s\n",
              static_cast<unsigned long>(a->resynced_bytes_total()),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace
}  // namespace scalefs::test
