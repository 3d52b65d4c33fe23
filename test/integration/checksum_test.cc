// End-to-end checksums on a real cluster (issue 17): bits flipped in one
// member's device under a written file are never served, the member mends
// its copy from its peer and counts it; a block damaged on both members
// fails with EIO, and verify names its file and offset and repairs nothing;
// verify --repair takes the copy matching its checksum; a member killed in
// the middle of unaligned writes comes back with every block sound.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/prometheus_text.h"
#include "test/harness/test_macros.h"
#include "test/integration/pair_util.h"

namespace scalefs::test {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kFileSize = 1 << 20;

class ChecksumTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.pairs = 1;
    o.device_size = 256ull << 20;
    cluster_ = std::make_unique<Cluster>(o);
    ASSERT_OK(cluster_->Start());
    ASSERT_OK(WaitPairHealthy(*cluster_, 0, 30));
  }
  std::string P(const std::string& name) const { return cluster_->mnt() + "/" + name; }

  // The device offset of `file_offset` of the file, from meta's extent map.
  uint64_t DeviceOffset(const std::string& path, uint64_t file_offset) {
    struct stat st;
    EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
    auto stub = cluster_->MetaStub();
    grpc::ClientContext ctx;
    meta::ExtentsRequest req;
    req.set_ino(st.st_ino);
    req.set_length(static_cast<uint64_t>(st.st_size));
    meta::ExtentsReply rep;
    EXPECT_TRUE(stub->GetExtents(&ctx, req, &rep).ok());
    for (const meta::Extent& e : rep.extents()) {
      if (file_offset >= e.file_offset() && file_offset < e.file_offset() + e.length()) {
        EXPECT_TRUE(e.written()) << "extent of " << path << " at " << file_offset;
        return e.dev_offset() + file_offset - e.file_offset();
      }
    }
    ADD_FAILURE() << "no extent of " << path << " holds offset " << file_offset;
    return 0;
  }
  std::string DeviceBytes(int member, uint64_t offset, size_t n) {
    auto r = ReadAt(cluster_->DevicePath(0, member), offset, n);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::string();
  }
  // Writes straight into a member's device image, bypassing the member.
  void WriteDevice(int member, uint64_t offset, const std::string& bytes) {
    const std::string dev = cluster_->DevicePath(0, member);
    int fd = open(dev.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << dev << ": " << strerror(errno);
    ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
              static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  void FlipBits(int member, uint64_t offset) {
    std::string b = DeviceBytes(member, offset, 1);
    ASSERT_EQ(b.size(), 1u);
    b[0] = static_cast<char>(b[0] ^ 0x5a);
    WriteDevice(member, offset, b);
  }
  double Metric(const std::string& process, const std::string& name,
                const std::map<std::string, std::string>& labels = {}) {
    auto s = Scrape::Fetch(cluster_->MetricsAddress(process));
    EXPECT_TRUE(s.ok()) << process << ": " << s.status().ToString();
    return s.ok() ? s->Sum(name, labels) : -1;
  }
  // A fresh mount (empty page cache) whose reads go first to `member`.
  std::string MountReader(int member, const std::string& name) {
    const std::string dir = cluster_->state_dir() + "/" + name;
    EXPECT_OK(cluster_->MountAt(dir, name, {member == 0 ? "--prefer_member=a" : "--prefer_member=b"}));
    return dir;
  }

  std::unique_ptr<Cluster> cluster_;
};

// Test 1 of the issue.
TEST_F(ChecksumTest, AFlipOnOneMemberIsReadFromThePeerAndMended) {
  Cluster& c = *cluster_;
  ASSERT_OK(WritePatternFile(P("victim"), 11, kFileSize));
  for (int bad = 0; bad < 2; ++bad) {
    const uint64_t file_offset = (bad == 0 ? 3 : 200) * kBlock;
    const uint64_t dev = DeviceOffset(P("victim"), file_offset);
    const std::string good = DeviceBytes(1 - bad, dev, kBlock);
    ASSERT_EQ(good, DeviceBytes(bad, dev, kBlock));
    FlipBits(bad, dev + 123);
    ASSERT_NE(DeviceBytes(bad, dev, kBlock), good);
    const std::string member = Cluster::MemberName(0, bad);
    const double bad_before = Metric(member, "scalefs_chunk_bad_blocks_total");
    const double mended_before = Metric(member, "scalefs_chunk_repaired_blocks_total");

    const std::string reader = "reader" + std::to_string(bad);
    const std::string dir = MountReader(bad, reader);
    EXPECT_OK(CheckPatternFile(dir + "/victim", 11, kFileSize));
    // The member mends its copy from its peer (checked on its device).
    bool mended = false;
    for (int i = 0; i < 100 && !mended; ++i) {
      mended = DeviceBytes(bad, dev, kBlock) == good;
      if (!mended) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(mended) << member << " did not repair its block at device offset " << dev;
    EXPECT_GE(Metric(member, "scalefs_chunk_bad_blocks_total"), bad_before + 1);
    EXPECT_GE(Metric(member, "scalefs_chunk_repaired_blocks_total"), mended_before + 1);
    EXPECT_GE(Metric(reader, "scalefs_client_bad_block_reads_total",
                     {{"member", bad == 0 ? "a" : "b"}}),
              1);
    auto log = ReadFile(c.LogPath(member));
    ASSERT_TRUE(log.ok());
    EXPECT_NE(log->find("block at device offset " + std::to_string(dev) +
                        " does not match its checksum"),
              std::string::npos)
        << c.LogPath(member);
    EXPECT_NE(log->find("repaired block at device offset " + std::to_string(dev)),
              std::string::npos)
        << c.LogPath(member);
    ASSERT_OK(c.UnmountAt(dir, reader));
  }
  std::string out;
  EXPECT_EQ(c.Cli({"verify"}, &out), 0) << out;
}

// Test 2 of the issue.
TEST_F(ChecksumTest, ABlockDamagedOnBothMembersIsEioAndVerifyNamesIt) {
  Cluster& c = *cluster_;
  ASSERT_OK(WritePatternFile(P("victim"), 12, kFileSize));
  const uint64_t file_offset = 77 * kBlock;
  const uint64_t dev = DeviceOffset(P("victim"), file_offset);
  FlipBits(0, dev + 5);
  FlipBits(1, dev + 4000);
  const std::string dir = MountReader(0, "reader");
  int fd = open((dir + "/victim").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  char buf[kBlock];
  errno = 0;
  EXPECT_EQ(pread(fd, buf, kBlock, static_cast<off_t>(file_offset)), -1);
  EXPECT_EQ(errno, EIO);
  // Blocks elsewhere in the file read right.
  ASSERT_EQ(pread(fd, buf, kBlock, static_cast<off_t>(kFileSize - kBlock)),
            static_cast<ssize_t>(kBlock));
  EXPECT_EQ(std::string(buf, kBlock), PatternBytes(12, kFileSize - kBlock, kBlock));
  close(fd);
  ASSERT_OK(c.UnmountAt(dir, "reader"));

  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // members' repair attempts
  const std::string sha_a = c.DeviceSha256(0, 0), sha_b = c.DeviceSha256(0, 1);
  std::string out;
  EXPECT_EQ(c.Cli({"verify"}, &out), 1) << out;
  const std::string named = "pair0: both copies damaged at device offset " + std::to_string(dev) +
                            ": file /victim offset " + std::to_string(file_offset) +
                            "; not repaired";
  EXPECT_NE(out.find(named), std::string::npos) << out;
  EXPECT_EQ(c.Cli({"verify", "--repair"}, &out), 1) << out;
  EXPECT_NE(out.find(named), std::string::npos) << out;
  EXPECT_EQ(c.DeviceSha256(0, 0), sha_a) << "verify --repair changed member A";
  EXPECT_EQ(c.DeviceSha256(0, 1), sha_b) << "verify --repair changed member B";
}

// Test 3 of the issue: member A's block holds other valid-looking bytes
// (another block of the same file); the old verify --repair copied A over B.
TEST_F(ChecksumTest, VerifyRepairTakesTheCopyMatchingItsChecksum) {
  Cluster& c = *cluster_;
  ASSERT_OK(WritePatternFile(P("victim"), 13, kFileSize));
  const uint64_t dev = DeviceOffset(P("victim"), 10 * kBlock);
  const uint64_t other = DeviceOffset(P("victim"), 11 * kBlock);
  const std::string good = DeviceBytes(1, dev, kBlock);
  WriteDevice(0, dev, DeviceBytes(0, other, kBlock));
  std::string out;
  EXPECT_EQ(c.Cli({"verify"}, &out), 1) << out;
  EXPECT_NE(out.find("pair0: member A damaged [" + std::to_string(dev) + ", +4096)"),
            std::string::npos)
      << out;
  EXPECT_EQ(c.Cli({"verify", "--repair"}, &out), 0) << out;
  EXPECT_NE(out.find("pair0: mended 1 damaged blocks of member A and 0 of member B from their "
                     "peer, resynced 0 blocks from member A; 0 out-of-sync blocks left"),
            std::string::npos)
      << out;
  EXPECT_EQ(DeviceBytes(0, dev, kBlock), good);
  EXPECT_EQ(DeviceBytes(1, dev, kBlock), good);
  EXPECT_EQ(c.Cli({"verify"}, &out), 0) << out;
  const std::string dir = MountReader(0, "reader");
  EXPECT_OK(CheckPatternFile(dir + "/victim", 13, kFileSize));
  ASSERT_OK(c.UnmountAt(dir, "reader"));
}

// Test 4 of the issue: SIGKILL of a member in the middle of a stream of
// unaligned writes; after its restart and resync every block of both
// members matches its checksum (scrub clean) and the file holds exactly what
// the acknowledged writes made it.
TEST_F(ChecksumTest, SigkillOfAMemberDuringUnalignedWritesLeavesEveryBlockSound) {
  Cluster& c = *cluster_;
  constexpr uint64_t kSpan = 4 << 20;
  ASSERT_OK(WritePatternFile(P("stream"), 14, kSpan));
  std::string model = PatternBytes(14, 0, kSpan);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0};
  std::string error;
  std::thread writer([&] {
    int fd = open(P("stream").c_str(), O_RDWR);
    if (fd < 0) {
      error = std::string("open: ") + strerror(errno);
      return;
    }
    std::mt19937_64 rng(5);
    while (!stop) {
      const uint64_t off = rng() % (kSpan - 20000);
      const size_t len = 1 + rng() % 20000;
      const std::string data = PatternBytes(rng(), off, len);
      if (pwrite(fd, data.data(), len, static_cast<off_t>(off)) != static_cast<ssize_t>(len)) {
        error = std::string("pwrite: ") + strerror(errno);
        break;
      }
      model.replace(off, len, data);
      // Synchronous writes: each reaches the members before the next.
      if (fdatasync(fd) != 0) {
        error = std::string("fdatasync: ") + strerror(errno);
        break;
      }
      ++writes;
    }
    close(fd);
  });
  for (int round = 0; round < 2 && error.empty(); ++round) {
    const std::string victim = Cluster::MemberName(0, round % 2);
    const uint64_t before = writes;
    while (writes < before + 30 && error.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    c.Kill(victim);
    const uint64_t at_kill = writes;
    while (writes < at_kill + 30 && error.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_OK(c.StartDaemon(victim));
    ASSERT_OK(WaitPairHealthy(c, 0, 60));
  }
  stop = true;
  writer.join();
  ASSERT_EQ(error, "");
  printf("%llu unaligned writes, two members killed among them\n",
         static_cast<unsigned long long>(writes.load()));
  std::string out;
  EXPECT_EQ(c.Cli({"scrub"}, &out), 0) << out;
  EXPECT_NE(out.find("pair0: 0 out-of-sync blocks of 65536 (0.2 GiB checked); damaged: 0 on A, "
                     "0 on B, 0 on both"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("scrub: clean"), std::string::npos) << out;
  auto got = ReadFile(P("stream"));
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == model) << "the file differs from its acknowledged writes";
}

TEST_F(ChecksumTest, ScrubMendsDamageItFindsWithProgressAndRate) {
  Cluster& c = *cluster_;
  ASSERT_OK(WritePatternFile(P("victim"), 15, kFileSize));
  const uint64_t dev_b = DeviceOffset(P("victim"), 30 * kBlock);
  const std::string good = DeviceBytes(0, dev_b, kBlock);
  FlipBits(1, dev_b + 1);
  std::string out;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(c.Cli({"scrub", "--rate", "128M"}, &out), 0) << out;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(secs, 1.8) << "256 MiB at 128 MiB/s took " << secs << " s";
  EXPECT_NE(out.find("100.0%"), std::string::npos) << "no progress line: " << out;
  EXPECT_NE(out.find("pair0: mended 0 damaged blocks of member A and 1 of member B"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("scrub: clean"), std::string::npos) << out;
  EXPECT_EQ(DeviceBytes(1, dev_b, kBlock), good);
  EXPECT_EQ(c.Cli({"scrub", "--rate", "fast"}, &out), 2) << out;
}

}  // namespace
}  // namespace scalefs::test
