// scalefs-meta killed with SIGKILL in a storm of creates, renames and
// unlinks: after restart every acknowledged operation is there, and meta's
// own checker finds no dangling or leaked entry, inode or extent.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

// What the storm knows about name i after its last acknowledged operation.
enum class Expect { kUnknown, kCreated, kRenamed, kUnlinked };

TEST(MetaCrash, AcknowledgedOperationsSurviveSigkillOfMeta) {
  Cluster c;
  ASSERT_OK(c.Start());
  const std::string dir = c.mnt() + "/storm";
  ASSERT_SYS(mkdir(dir.c_str(), 0755));

  const int kWorkers = 4;
  std::atomic<bool> stop{false};
  std::vector<std::vector<Expect>> state(kWorkers);
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int i = 0; !stop; ++i) {
        state[w].push_back(Expect::kUnknown);
        std::string base = dir + "/w" + std::to_string(w) + "-" + std::to_string(i);
        std::string data = PatternBytes(w * 1000000 + i, 0, 4096);
        int fd = open((base + ".new").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0) { failures++; continue; }
        bool ok = write(fd, data.data(), data.size()) == 4096;
        ok = (close(fd) == 0) && ok;
        if (!ok) { failures++; continue; }
        state[w][i] = Expect::kCreated;
        if (rename((base + ".new").c_str(), (base + ".done").c_str()) != 0) {
          state[w][i] = Expect::kUnknown; failures++; continue;
        }
        state[w][i] = Expect::kRenamed;
        if (i % 3 == 0) {
          if (unlink((base + ".done").c_str()) != 0) {
            state[w][i] = Expect::kUnknown; failures++; continue;
          }
          state[w][i] = Expect::kUnlinked;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));
  c.Kill("meta");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_OK(c.StartDaemon("meta"));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  c.Kill("meta");
  ASSERT_OK(c.StartDaemon("meta"));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop = true;
  for (auto& t : workers) t.join();

  // Look through a fresh mount so no kernel cache answers for meta.
  ASSERT_OK(c.Unmount());
  ASSERT_OK(c.Mount());
  size_t checked = 0;
  for (int w = 0; w < kWorkers; ++w) {
    ASSERT_GT(state[w].size(), 10u) << "the storm barely ran";
    for (size_t i = 0; i < state[w].size(); ++i) {
      std::string base = dir + "/w" + std::to_string(w) + "-" + std::to_string(i);
      struct stat st;
      bool has_new = stat((base + ".new").c_str(), &st) == 0;
      bool has_done = stat((base + ".done").c_str(), &st) == 0;
      switch (state[w][i]) {
        case Expect::kUnknown: continue;
        case Expect::kCreated: EXPECT_TRUE(has_new || has_done) << base; break;
        case Expect::kRenamed:
          EXPECT_FALSE(has_new) << base;
          EXPECT_TRUE(has_done) << base;
          if (has_done) {
            auto r = ReadFile(base + ".done");
            EXPECT_TRUE(r.ok() && *r == PatternBytes(w * 1000000 + i, 0, 4096)) << base;
          }
          break;
        case Expect::kUnlinked:
          EXPECT_FALSE(has_new) << base;
          EXPECT_FALSE(has_done) << base;
          break;
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 100u);
  std::string out;
  EXPECT_EQ(c.Cli({"fsck"}, &out), 0) << out;
  // Clean up everything the storm left; the checker must still be clean
  // and all space must come back.
  ASSERT_EQ(RunShell("rm -rf " + dir), 0);
  EXPECT_EQ(c.Cli({"fsck"}, &out), 0) << out;
}

}  // namespace
}  // namespace scalefs::test
