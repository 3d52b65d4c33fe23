// `scalefs torture` as a user runs it: a short seeded run on two mounts of one
// cluster is clean (every check, verify and fsck); the same run with one
// mount served by the test-only client that skips its commits fails, with a
// report that names the seed, the failed check, the history and a command
// that reproduces it (which fails again); and the installed client has no
// trace of that switch.
#include <cstdlib>
#include <regex>
#include <string>

#include "test/harness/cluster.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

const std::string kBin = SCALEFS_BIN_DIR;

class TortureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.pairs = 2;
    o.device_size = 256ull << 20;
    cluster_ = std::make_unique<Cluster>(o);
    ASSERT_OK(cluster_->Start());
    second_ = cluster_->state_dir() + "/mnt2";
  }
  uint64_t Number(const std::string& out, const std::string& pattern) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex(pattern))) return 0;
    return std::stoull(m[1]);
  }

  std::unique_ptr<Cluster> cluster_;
  std::string second_;
};

// $NAME, else `fallback`: a longer run by hand, as
// (8 processes on two mounts contend for the locks enough to have found a
// leaked lock.) A longer run by hand: SCALEFS_TORTURE_SECONDS=600 SCALEFS_TORTURE_PROCS=8 build/bin/torture_test.
std::string FromEnv(const char* name, const char* fallback) {
  const char* v = getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

TEST_F(TortureTest, SeededRunOnTwoMountsIsClean) {
  Cluster& c = *cluster_;
  ASSERT_OK(c.MountAt(second_, "client2"));
  std::string out;
  const int rc = c.Cli({"torture", c.mnt(), second_, "--seconds",
                        FromEnv("SCALEFS_TORTURE_SECONDS", "15"), "--seed",
                        FromEnv("SCALEFS_TORTURE_SEED", "1616"), "--procs",
                        FromEnv("SCALEFS_TORTURE_PROCS", "8")},
                       &out);
  printf("%s", out.c_str());
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("torture: clean (seed " + FromEnv("SCALEFS_TORTURE_SEED", "1616") + ")"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("FAILED"), std::string::npos) << out;
  // It did work, on both mounts, under the locks, and compared across mounts.
  EXPECT_GT(Number(out, R"(torture: ([0-9]+) operations in)"), 2000u) << out;
  EXPECT_GT(Number(out, R"(([0-9]+) locked sections)"), 50u) << out;
  EXPECT_GT(Number(out, R"(([0-9]+) files and listings compared through another mount)"), 20u)
      << out;
  EXPECT_NE(out.find("fsck: 0 problems"), std::string::npos) << out;
  EXPECT_NE(out.find("pair0: 0 out-of-sync blocks"), std::string::npos) << out;
  // Its folder is gone: fsck counted nothing of it.
  std::string ls;
  RunShell("ls -A " + c.mnt(), &ls);
  EXPECT_EQ(ls.find("torture-"), std::string::npos) << ls;
  ASSERT_OK(c.UnmountAt(second_, "client2"));
}

TEST_F(TortureTest, ClientThatSkipsCommitsFailsWithAReport) {
  Cluster& c = *cluster_;
  ASSERT_OK(c.MountProgramAt("scalefs-test-faults", second_, "faulty",
                             {"--test_fault=skip_commit"}));
  std::string out;
  const int rc = c.Cli({"torture", second_, c.mnt(), "--seconds", "20", "--seed", "4242",
                        "--procs", "2"},
                       &out);
  printf("%s", out.c_str());
  EXPECT_EQ(rc, 1) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(FAILED check '([a-z-]+)' in process ([0-9]+) \(mount ([^,]+), seed 4242)")))
      << out;
  printf("failed check: %s in process %s on %s\n", m[1].str().c_str(), m[2].str().c_str(),
         m[3].str().c_str());
  // Process 0 works through the broken mount: that is where it fails.
  EXPECT_EQ(m[3].str(), second_) << out;
  EXPECT_NE(out.find("the last "), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\n  [0-9-]+ [0-9:.]+Z  #[0-9]+  )"))) << out;
  EXPECT_NE(out.find("torture: FAILED (seed 4242)"), std::string::npos) << out;

  // The reproduction of the failing process alone fails the same check.
  std::smatch repro;
  ASSERT_TRUE(std::regex_search(out, repro, std::regex(R"(reproduce this process alone: scalefs (torture [^\n]+))")))
      << out;
  std::string again;
  const int rc2 = RunShell(kBin + "/scalefs --meta=" + c.meta_address() + " " + repro[1].str(), &again);
  printf("%s", again.c_str());
  EXPECT_EQ(rc2, 1) << again;
  EXPECT_NE(again.find("FAILED check '" + m[1].str() + "'"), std::string::npos) << again;
  ASSERT_OK(c.UnmountAt(second_, "faulty"));
}

TEST(TortureSwitchTest, OnlyTheTestClientHasTheFaultSwitch) {
  std::string out;
  EXPECT_EQ(RunShell("strings " + kBin + "/scalefs | grep -c -e test_fault -e skip_commit", &out), 1)
      << "the installed client holds the test switch: " << out;
  EXPECT_EQ(RunShell("strings " + kBin + "/scalefs-test-faults | grep -c skip_commit", &out), 0)
      << out;
  EXPECT_EQ(RunShell(kBin + "/scalefs --test_fault=skip_commit status", &out), 2) << out;
  EXPECT_NE(out.find("unknown flag --test_fault"), std::string::npos) << out;
  // The torture usage: bad arguments are exit 2 with the usage.
  EXPECT_EQ(RunShell(kBin + "/scalefs torture", &out), 2) << out;
  EXPECT_NE(out.find("usage: scalefs torture MOUNT"), std::string::npos) << out;
  EXPECT_EQ(RunShell(kBin + "/scalefs torture /tmp --seconds x", &out), 2) << out;
  EXPECT_NE(out.find("--seconds wants"), std::string::npos) << out;
}

}  // namespace
}  // namespace scalefs::test
