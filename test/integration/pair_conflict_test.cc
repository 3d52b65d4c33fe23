// Convergence of a storage pair under conflicting writes (DESIGN.md, Storage
// pairs, invariant 3): two clients write different data to the same blocks
// at the same time, one through member A and one through member B, for
// 10,000 rounds. The replicas must end byte-identical (scalefs verify), both
// clients must read the same bytes, and every block must hold, whole, one
// of the versions written to it in the last round that touched it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <barrier>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"
#include "test/integration/pair_util.h"

namespace scalefs::test {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kFileBlocks = 2048;  // an 8 MiB file: 8 sequencing regions
constexpr uint64_t kBlocksPerRegion = (1 << 20) / kBlock;
constexpr uint64_t kMaxWriteBlocks = 16;  // 4 to 64 KiB per write

// One client's write of one round, in blocks.
struct Range {
  uint64_t block = 0;
  uint64_t blocks = 0;
  bool Contains(uint64_t b) const { return b >= block && b < block + blocks; }
};
struct Round {
  Range write[2];  // client 1, client 2
};

// Identifies the version of one block: who wrote it in which round.
uint64_t Tag(uint64_t round, int client, uint64_t block) {
  return (round << 32) | (static_cast<uint64_t>(client) << 24) | block;
}
constexpr int kInitialClient = 3;  // the tag of the data written before round 1

// A block's bytes: the tag in the first word, words derived from it after.
void FillBlock(uint64_t tag, char* out) {
  uint64_t* w = reinterpret_cast<uint64_t*>(out);
  w[0] = tag;
  uint64_t x = tag * 0x9e3779b97f4a7c15ULL + 1;
  for (size_t i = 1; i < kBlock / 8; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w[i] = x;
  }
}

// The tag of a block whose bytes are entirely one version, or 0.
uint64_t TagOf(const char* block) {
  uint64_t tag;
  memcpy(&tag, block, 8);
  char expect[kBlock];
  FillBlock(tag, expect);
  return memcmp(expect, block, kBlock) == 0 ? tag : 0;
}

std::vector<Round> PlanRounds(int rounds, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Round> plan(rounds);
  for (Round& r : plan) {
    Range& a = r.write[0];
    Range& b = r.write[1];
    a.blocks = 1 + rng() % kMaxWriteBlocks;
    if (rng() % 5 == 0) {
      // Across a 1 MiB boundary: the two parts have different sequencers.
      a.blocks = std::max<uint64_t>(a.blocks, 2);
      const uint64_t boundary = (1 + rng() % (kFileBlocks / kBlocksPerRegion - 1)) * kBlocksPerRegion;
      a.block = boundary - 1 - rng() % (a.blocks - 1);
    } else {
      a.block = rng() % (kFileBlocks - a.blocks + 1);
    }
    if (rng() % 5 < 2) {
      b = a;  // exactly the same blocks
    } else {
      b.blocks = 1 + rng() % kMaxWriteBlocks;
      // Any start that overlaps a, kept inside the file.
      int64_t start = static_cast<int64_t>(a.block) - static_cast<int64_t>(b.blocks - 1) +
                      static_cast<int64_t>(rng() % (a.blocks + b.blocks - 1));
      start = std::clamp<int64_t>(start, 0, static_cast<int64_t>(kFileBlocks - b.blocks));
      b.block = static_cast<uint64_t>(start);
    }
  }
  return plan;
}

struct AlignedBuffer {
  explicit AlignedBuffer(size_t n) {
    if (posix_memalign(reinterpret_cast<void**>(&data), kBlock, n) != 0) data = nullptr;
  }
  ~AlignedBuffer() { free(data); }
  char* data = nullptr;
};

Status ReadWhole(const std::string& path, char* out) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECT);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  const uint64_t size = kFileBlocks * kBlock;
  for (uint64_t done = 0; done < size;) {
    ssize_t n = pread(fd, out + done, size - done, static_cast<off_t>(done));
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      close(fd);
      return Status::FromErrno(e, "pread " + path + " at " + std::to_string(done));
    }
    done += static_cast<uint64_t>(n);
  }
  close(fd);
  return Status::OK();
}

TEST(PairConflict, TwoClientsWritingTheSameBlocksThroughDifferentMembersConverge) {
  const char* env = std::getenv("SCALEFS_CONFLICT_ROUNDS");
  const int kRounds = env != nullptr ? std::atoi(env) : 10000;
  ClusterOptions o;
  o.pairs = 1;  // every write lands on the same pair
  o.device_size = 256ull << 20;
  o.mount = false;
  Cluster c(o);
  ASSERT_OK(c.Start());
  ASSERT_OK(WaitPairHealthy(c, 0, 30));
  const std::string mnt[2] = {c.state_dir() + "/client1", c.state_dir() + "/client2"};
  const std::string names[2] = {"client1", "client2"};
  ASSERT_OK(c.MountAt(mnt[0], names[0], {"--prefer_member=a"}));
  ASSERT_OK(c.MountAt(mnt[1], names[1], {"--prefer_member=b"}));

  // The shared file, written and fsynced by client 1 before the rounds.
  std::string initial(kFileBlocks * kBlock, '\0');
  for (uint64_t b = 0; b < kFileBlocks; ++b) FillBlock(Tag(0, kInitialClient, b), &initial[b * kBlock]);
  ASSERT_OK(WriteFile(mnt[0] + "/shared", initial));

  int fds[2];
  for (int i = 0; i < 2; ++i) {
    fds[i] = open((mnt[i] + "/shared").c_str(), O_RDWR | O_DIRECT);
    ASSERT_GE(fds[i], 0) << mnt[i] << ": " << strerror(errno);
  }

  const std::vector<Round> plan = PlanRounds(kRounds, 20240611);
  std::barrier sync(2);
  std::string errors[2];
  const auto start = std::chrono::steady_clock::now();
  auto client = [&](int i) {
    AlignedBuffer buf(kMaxWriteBlocks * kBlock);
    for (int r = 0; r < kRounds; ++r) {
      const Range& w = plan[r].write[i];
      for (uint64_t k = 0; k < w.blocks; ++k) {
        FillBlock(Tag(r + 1, i + 1, w.block + k), buf.data + k * kBlock);
      }
      sync.arrive_and_wait();  // both clients write round r at the same time
      const ssize_t n = pwrite(fds[i], buf.data, w.blocks * kBlock,
                               static_cast<off_t>(w.block * kBlock));
      if (n != static_cast<ssize_t>(w.blocks * kBlock)) {
        errors[i] = "client " + std::to_string(i + 1) + " round " + std::to_string(r + 1) +
                    ": pwrite returned " + std::to_string(n) + ": " + strerror(errno);
        sync.arrive_and_drop();
        return;
      }
      if ((r + 1) % 2000 == 0 && i == 0) {
        printf("round %d, %.1f s\n", r + 1,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        fflush(stdout);
      }
    }
    sync.arrive_and_drop();
  };
  std::thread t1(client, 0), t2(client, 1);
  t1.join();
  t2.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  printf("%d rounds of conflicting writes in %.1f s\n", kRounds, secs);
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  for (int fd : fds) {
    EXPECT_SYS(fsync(fd));
    EXPECT_SYS(close(fd));
  }

  // The replicas are identical.
  std::string out;
  EXPECT_EQ(c.Cli({"verify"}, &out), 0) << out;
  EXPECT_NE(out.find("pair0: 0 out-of-sync blocks of "), std::string::npos) << out;

  // Both clients read the same bytes, uncached.
  AlignedBuffer seen[2] = {AlignedBuffer(kFileBlocks * kBlock), AlignedBuffer(kFileBlocks * kBlock)};
  for (int i = 0; i < 2; ++i) ASSERT_OK(ReadWhole(mnt[i] + "/shared", seen[i].data));
  ASSERT_EQ(memcmp(seen[0].data, seen[1].data, kFileBlocks * kBlock), 0)
      << "the two clients read different file content";

  // Each block holds one version whole, from the last round that wrote it.
  std::vector<int> last_round(kFileBlocks, -1);
  for (int r = 0; r < kRounds; ++r) {
    for (const Range& w : plan[r].write) {
      for (uint64_t b = w.block; b < w.block + w.blocks; ++b) last_round[b] = r;
    }
  }
  int wrong = 0, won[2] = {0, 0};
  for (uint64_t b = 0; b < kFileBlocks; ++b) {
    const uint64_t tag = TagOf(seen[0].data + b * kBlock);
    std::vector<uint64_t> allowed;
    const int r = last_round[b];
    if (r < 0) {
      allowed.push_back(Tag(0, kInitialClient, b));
    } else {
      for (int i = 0; i < 2; ++i) {
        if (plan[r].write[i].Contains(b)) allowed.push_back(Tag(r + 1, i + 1, b));
      }
    }
    if (std::find(allowed.begin(), allowed.end(), tag) == allowed.end()) {
      if (++wrong <= 10) {
        ADD_FAILURE() << "block " << b << " holds " << (tag == 0 ? "a mix of versions" : "tag ")
                      << std::hex << tag << ", not what round " << std::dec << r + 1
                      << " wrote to it";
      }
    } else if (allowed.size() == 2) {
      ++won[((tag >> 24) & 0xff) - 1];
    }
  }
  EXPECT_EQ(wrong, 0);
  printf("blocks both clients wrote in their last round: client 1 won %d, client 2 won %d\n",
         won[0], won[1]);

  // Each member received client writes directly: client 1 sent every write
  // to A first, client 2 to B (the sequencer of the other regions forwards).
  for (int i = 0; i < 2; ++i) ASSERT_OK(c.UnmountAt(mnt[i], names[i]));
  std::optional<WriteCounters> sent[2];
  for (int i = 0; i < 2; ++i) {
    sent[i] = ClientWriteCounters(c.LogPath(names[i]));
    ASSERT_TRUE(sent[i]) << "no write counters in " << c.LogPath(names[i]);
  }
  EXPECT_GE(sent[0]->to_a, static_cast<uint64_t>(kRounds));
  EXPECT_EQ(sent[0]->to_b, 0u);
  EXPECT_EQ(sent[1]->to_a, 0u);
  EXPECT_GE(sent[1]->to_b, static_cast<uint64_t>(kRounds));
  EXPECT_EQ(c.Cli({"fsck"}, &out), 0) << out;
}

}  // namespace
}  // namespace scalefs::test
