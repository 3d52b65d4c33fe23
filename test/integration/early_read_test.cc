// A small file listed moments ago is read at open while meta confirms the
// listing (fsd/early_read.h). What a user relies on: the bytes are the
// file's, and a change another client made after the listing is seen at the
// next open (close-to-open), never the listed, now stale, blocks.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

constexpr int kFiles = 40;
constexpr size_t kSize = 6000;

std::string Name(const std::string& dir, int i) { return dir + "/f" + std::to_string(i); }

// Long timeouts keep the listing trusted for the whole test.
ClusterOptions LongTimeouts() {
  ClusterOptions o;
  o.mount_options = {"attr_timeout=30,entry_timeout=30"};
  return o;
}

// Client 2 writes the files, so client 1 has none of them cached.
class EarlyReadTest : public ::testing::Test {
 protected:
  EarlyReadTest() : c_(LongTimeouts()) {}
  void SetUp() override {
    ASSERT_OK(c_.Start());
    other_ = c_.state_dir() + "/mnt2";
    dir_ = c_.mnt() + "/d";
    ASSERT_OK(c_.MountAt(other_, "client2"));
    ASSERT_SYS(mkdir((other_ + "/d").c_str(), 0755));
    for (int i = 0; i < kFiles; ++i)
      ASSERT_OK(WriteFile(Name(other_ + "/d", i), PatternBytes(i, 0, kSize), /*fsync_it=*/false));
  }
  void TearDown() override { EXPECT_OK(c_.UnmountAt(other_, "client2")); }
  // Client 1 looks them all up: enough lookups make it list the directory,
  // with the extent maps of its small files.
  void StatAll() {
    for (int i = 0; i < kFiles; ++i) {
      struct stat st;
      ASSERT_SYS(stat(Name(dir_, i).c_str(), &st));
    }
  }

  Cluster c_;
  std::string other_;  // client 2's mount
  std::string dir_;    // the directory, as client 1 sees it
};

TEST_F(EarlyReadTest, ListedFilesReadBackAndAChangeAfterTheListingIsSeen) {
  StatAll();
  // Client 2 changes half of them after that listing: it frees their
  // blocks, writes other files (which may reuse them), then writes new bytes.
  for (int i = 0; i < kFiles; i += 2) {
    ASSERT_SYS(truncate(Name(other_ + "/d", i).c_str(), 0));
    ASSERT_OK(WriteFile(Name(other_ + "/d", 100 + i), PatternBytes(3000 + i, 0, kSize), false));
    ASSERT_OK(WriteFile(Name(other_ + "/d", i), PatternBytes(1000 + i, 0, kSize), false));
  }
  for (int i = 0; i < kFiles; ++i) {
    auto back = ReadFile(Name(dir_, i));
    ASSERT_OK(back.status());
    const std::string want = PatternBytes(i % 2 == 0 ? 1000 + i : i, 0, kSize);
    EXPECT_TRUE(*back == want) << "file " << i << (i % 2 == 0 ? " (rewritten)" : "");
  }
  // And reading again, after client 1 listed the rewritten files too.
  for (int i = 0; i < kFiles; ++i) {
    auto back = ReadFile(Name(dir_, i));
    ASSERT_OK(back.status());
    EXPECT_TRUE(*back == PatternBytes(i % 2 == 0 ? 1000 + i : i, 0, kSize)) << "file " << i;
  }
}

// A handle open for writing on the same client holds bytes meta has not
// seen: a reader opened meanwhile must read them, not the listed blocks.
TEST_F(EarlyReadTest, AnOpenWriterOfThisClientWins) {
  // Writers open first and write past the old end; then lookups of the
  // others make client 1 list the directory, with meta's old sizes.
  std::vector<int> writers;
  for (int i = 0; i < kFiles; i += 4) {
    const std::string data = PatternBytes(2000 + i, 0, kSize + 500);
    int w = open(Name(dir_, i).c_str(), O_WRONLY);
    ASSERT_SYS(w);
    ASSERT_EQ(pwrite(w, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
    writers.push_back(w);
  }
  StatAll();
  for (int i = 0; i < kFiles; i += 4) {
    auto back = ReadFile(Name(dir_, i));  // the writer is still open
    ASSERT_OK(back.status());
    EXPECT_TRUE(*back == PatternBytes(2000 + i, 0, kSize + 500)) << "file " << i;
  }
  for (int w : writers) ASSERT_SYS(close(w));
}

}  // namespace
}  // namespace scalefs::test
