// A member frozen (SIGSTOP) while a client writes: the survivor takes meta's
// grant after the peer deadline and the writes go on; the frozen member,
// woken up, finds itself outdated (it refuses a direct write), is resynced
// and the pair ends Connected UpToDate/UpToDate with identical replicas.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "common/rpc_status.h"
#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"
#include "test/integration/pair_util.h"

namespace scalefs::test {
namespace {

constexpr uint64_t kDevice = 512ull << 20;
constexpr uint64_t kSize = 64ull << 20;
constexpr uint64_t kSeed = 0xf0e1;

// One pair whose members give up on each other after 1 s, and a client that
// gives up on a member after 1.5 s; started, mounted and healthy.
ClusterOptions FreezeOptions(uint64_t device_size) {
  ClusterOptions o;
  o.pairs = 1;
  o.device_size = device_size;
  o.mount = false;
  o.chunk_flags = {"--peer_timeout_ms=1000"};
  return o;
}
Status StartAndMount(Cluster& c) {
  Status s = c.Start();
  if (s.ok()) s = c.MountAt(c.mnt(), "client", {"--io_timeout_ms=1500"});
  if (s.ok()) s = WaitPairHealthy(c, 0, 30);
  return s;
}

TEST(PairFreeze, FrozenMemberWakesOutdatedAndIsResynced) {
  const auto t0 = std::chrono::steady_clock::now();
  Cluster c(FreezeOptions(kDevice));
  ASSERT_OK(StartAndMount(c));

  const std::string path = c.mnt() + "/f";
  Status written;
  std::thread writer([&] { written = WritePatternFile(path, kSeed, kSize); });
  ASSERT_TRUE(WaitFileSize(path, kSize * 3 / 4, 120)) << "writer made no progress";
  c.Signal("pair0b", SIGSTOP);
  writer.join();  // finishes while B is frozen
  ASSERT_OK(written) << "writes did not continue without the frozen member";
  auto a = MemberInfo(c, 0, 0);
  ASSERT_OK(a.status());
  EXPECT_TRUE(a->solo()) << StateLine(*a);

  // Wake B and write to it directly, at once, at the device's last MiB
  // (no file lives there): it must refuse, never acknowledge a write its
  // peer does not get.
  c.Signal("pair0b", SIGCONT);
  const uint64_t probe = kDevice - (1 << 20);
  {
    auto stub = c.ChunkStub(0, 1);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    chunk::WriteRequest req;
    req.set_offset(probe);
    req.set_data(std::string(4096, 'Z'));
    chunk::WriteReply rep;
    Status s = FromGrpc(stub->Write(&ctx, req, &rep), "write to woken member");
    EXPECT_EQ(s.code(), Status::Code::kStale) << s.ToString();
    std::printf("woken member refused the write: %s\n", s.ToString().c_str());
  }
  ASSERT_OK(WaitPairHealthy(c, 0, 60));
  a = MemberInfo(c, 0, 0);
  ASSERT_OK(a.status());
  EXPECT_GT(a->resynced_bytes_total(), 0u);
  EXPECT_LT(a->resynced_bytes_total(), kDevice);
  ASSERT_OK(ReplicasIdentical(c, 0, kDevice));
  auto probe_bytes = ReadAt(c.DevicePath(0, 0), probe, 4096);
  ASSERT_OK(probe_bytes.status());
  EXPECT_TRUE(*probe_bytes == std::string(4096, '\0')) << "the refused write reached the device";
  ASSERT_OK(CheckPatternFile(path, kSeed, kSize));
  std::printf("resynced %lu bytes; test took %.1f s\n",
              static_cast<unsigned long>(a->resynced_bytes_total()),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

// A frozen member is tried second once it failed: it costs the client one
// timeout per avoid period, not one per request.
TEST(PairFreeze, AFrozenMemberIsTriedSecondAfterItFailed) {
  const ClusterOptions o = FreezeOptions(256ull << 20);
  Cluster c(o);
  ASSERT_OK(StartAndMount(c));
  c.Signal("pair0b", SIGSTOP);
  // 32 MiB in fsynced MiBs: half of them in regions B sequences, 4 requests each.
  const std::string path = c.mnt() + "/f";
  int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_SYS(fd);
  for (uint64_t mib = 0; mib < 32; ++mib) {
    const std::string data = PatternBytes(kSeed, mib << 20, 1 << 20);
    ASSERT_EQ(pwrite(fd, data.data(), data.size(), mib << 20), static_cast<ssize_t>(data.size()));
    ASSERT_SYS(fsync(fd));
  }
  ASSERT_SYS(close(fd));
  c.Signal("pair0b", SIGCONT);
  ASSERT_OK(c.UnmountAt(c.mnt(), "client"));
  const std::optional<WriteCounters> sent = ClientWriteCounters(c.LogPath("client"));
  ASSERT_TRUE(sent) << "no write counters in " << c.LogPath("client");
  const uint64_t failovers = sent->failovers;
  std::printf("requests failed over: %lu\n", static_cast<unsigned long>(failovers));
  ASSERT_GE(failovers, 1u) << "B was frozen: some write must have failed over";
  // One per request would be 64 (and 64 timeouts).
  EXPECT_LE(failovers, 12u) << "the frozen member was tried first again and again";
  ASSERT_OK(WaitPairHealthy(c, 0, 60));
  ASSERT_OK(ReplicasIdentical(c, 0, o.device_size));
}

}  // namespace
}  // namespace scalefs::test
