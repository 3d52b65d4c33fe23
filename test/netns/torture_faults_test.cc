// `scalefs torture --faults` on the namespace cluster (deploy/netns, started
// by test/netns/in_netns.sh with two clients; this binary runs in client0's
// network namespace): every kind of fault once (a client stopped and one
// killed too, and the file system filled), on a schedule, while the
// checked workload runs through both mounts; the last adds a pair and
// rebalances onto it. The checker's own ability to
// fail is test/integration/torture_test.cc's broken client.
#include <cstdlib>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include <unistd.h>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"

namespace scalefs::test {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string Torture(const std::string& args, int* rc) {
  const std::string mnt = Env("SCALEFS_MNT");
  std::string out;
  *rc = RunShell(std::string(SCALEFS_BIN_DIR) + "/scalefs torture " + mnt + " " + mnt + "-1 " +
                     args + " --cluster " + Env("SCALEFS_STATE"),
                 &out);
  return out;
}

uint64_t Count(const std::string& out, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(out, m, std::regex(pattern)) ? std::stoull(m[1]) : 0;
}

TEST(TortureFaultsTest, EveryKindOfFaultOnAScheduleLeavesTheRunClean) {
  ASSERT_FALSE(Env("SCALEFS_STATE").empty()) << "run through test/netns/in_netns.sh";
  const std::string delays = Env("SCALEFS_STATE") + "/log/netdelay.log";
  unlink(delays.c_str());
  int rc = 0;
  const std::string out = Torture(
      "--seconds 150 --procs 4 --seed 31 --faults "
      "3:kill:pair0a:3,9:stop:client0:2,13:stop:meta:3,20:cut:pair1a-pair1b:4,29:isolate:pair0b:3,"
      "37:kill:meta:2,45:cut:client1-meta:3,51:stop:pair1b:3,55:kill:client1:2,"
      "60:delay:pair1a-pair1b:3,65:loss:client0-pair0a:2,70:fill,90:grow",
      &rc);
  printf("%s", out.c_str());
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("torture: clean (seed 31)"), std::string::npos) << out;
  EXPECT_EQ(Count(out, R"(torture: ([0-9]+) faults injected)"), 13u) << out;
  EXPECT_NE(out.find("(cut 2, delay 1, fill 1, grow 1, isolate 1, kill 3, loss 1, stop 3)"), std::string::npos) << out;
  // The fill ran the file system out of space, and the processes' ENOSPC
  // answers (allowed only then) were counted.
  EXPECT_NE(out.find("fill: space back after"), std::string::npos) << out;
  EXPECT_NE(out.find("while the file system was full (1 fills)"), std::string::npos) << out;
  // The grow added pair2 and rebalanced onto it while the workers ran.
  EXPECT_NE(out.find("grow: rebalanced after"), std::string::npos) << out;
  EXPECT_NE(out.find("pair2:"), std::string::npos) << "verify did not check a third pair\n" << out;
  // Each was undone and the cluster healthy again before the next.
  for (const char* f : {"kill pair0a restarted", "stop client0 continued", "stop meta continued", "cut pair1a-pair1b healed",
                        "isolate pair0b healed", "kill meta restarted", "cut client1-meta healed",
                        "delay pair1a-pair1b healed", "loss client0-pair0a healed",
                        "stop pair1b continued", "kill client1 restarted"}) {
    EXPECT_NE(out.find(f), std::string::npos) << f << "\n" << out;
  }
  EXPECT_GT(Count(out, R"(torture: ([0-9]+) operations in)"), 3000u) << out;
  // The delay's jitter reordered the replication link's packets (each
  // delayer counts, as it ends, those it let through after a later one).
  Result<std::string> said = ReadFile(delays);
  ASSERT_TRUE(said.ok()) << said.status().ToString();
  EXPECT_GT(Count(*said, R"(delayed 200 ms \(\+0\.\.100 ms\), ([0-9]+) reordered)"), 0u) << *said;
  EXPECT_NE(out.find("fsck: 0 problems"), std::string::npos) << out;
}

TEST(TortureFaultsTest, ABadScheduleIsRefusedBeforeAnythingRuns) {
  int rc = 0;
  std::string out = Torture("--seconds 5 --faults 3:kill:pair7a", &rc);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("has no pair7a"), std::string::npos) << out;
  out = Torture("--seconds 5 --faults 3:stop:client5", &rc);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("torture was given 2 mounts"), std::string::npos) << out;
  out = Torture("--seconds 5 --faults 3:kill:client2", &rc);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("torture was given 2 mounts"), std::string::npos) << out;
  out = Torture("--seconds 5 --faults 3:explode:meta", &rc);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("KIND: kill, stop, cut, delay, loss, isolate, grow or fill"), std::string::npos) << out;
  out = Torture("--seconds 5 --faults 9:kill:meta,3:stop:meta", &rc);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("not in time order"), std::string::npos) << out;
  EXPECT_EQ(out.find("torture: seed"), std::string::npos) << "it ran: " << out;
}

}  // namespace
}  // namespace scalefs::test
