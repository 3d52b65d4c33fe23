// The scalefs programs as an operator meets them: --help and --version,
// `scalefs status` exiting with the cluster's health (0 healthy, 1 degraded,
// 2 meta unreachable) and --json for scripts, and every admin command
// answering within about 3 s, naming the address, when meta is down.
#include <chrono>
#include <sstream>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

using Clock = std::chrono::steady_clock;

int Lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// A field of `scalefs status --json`, read by python's own JSON parser: the
// output is JSON a script can use, not text that looks like it.
std::string JsonField(const std::string& json, const std::string& expr) {
  const std::string base = "/tmp/scalefs-cli-test-" + std::to_string(getpid());
  EXPECT_OK(WriteFile(base + ".json", json));
  EXPECT_OK(WriteFile(base + ".py", "import json\nd = json.load(open('" + base +
                                        ".json'))\nprint(" + expr + ")\n"));
  std::string out;
  const int rc = RunShell("python3 " + base + ".py", &out);
  unlink((base + ".json").c_str());
  unlink((base + ".py").c_str());
  EXPECT_EQ(rc, 0) << out << "\n" << json;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST(CliTest, EveryProgramHasShortHelpAndAVersion) {
  for (const std::string prog : {"scalefs", "scalefs-meta", "scalefs-chunk"}) {
    const std::string bin = std::string(SCALEFS_BIN_DIR) + "/" + prog;
    std::string out;
    EXPECT_EQ(RunShell(bin + " --help", &out), 0) << prog;
    EXPECT_LT(Lines(out), 40) << prog << "'s --help:\n" << out;
    EXPECT_EQ(out.find("--minloglevel"), std::string::npos) << prog << ": glog's flags listed";
    EXPECT_EQ(out.find("--flagfile"), std::string::npos) << prog << ": gflags' flags listed";
    EXPECT_NE(out.find("usage: " + prog), std::string::npos) << out;
    EXPECT_EQ(RunShell(bin + " --version", &out), 0) << prog;
    EXPECT_EQ(out.rfind(prog + " 0.", 0), 0u) << out;
    // A bad flag is a usage error that says which.
    EXPECT_EQ(RunShell(bin + " --no_such_flag=1", &out), 2) << prog;
    EXPECT_NE(out.find("unknown flag --no_such_flag"), std::string::npos) << out;
  }
}

TEST(CliTest, StatusExitsWithTheHealthAndAnswersFastWithoutMeta) {
  Cluster c;
  ASSERT_OK(c.Start());
  std::string out;
  // Fresh members connect to their peers within seconds of the join; until
  // then their pairs are not whole (WFConnection), and status says so.
  for (int i = 0; i < 100 && c.Cli({"status"}, &out) != 0; ++i) usleep(200 * 1000);
  EXPECT_EQ(c.Cli({"status"}, &out), 0) << out;
  EXPECT_NE(out.find("health: healthy"), std::string::npos) << out;
  ASSERT_EQ(c.Cli({"status", "--json"}, &out), 0) << out;
  EXPECT_EQ(JsonField(out, "d['health']"), "healthy");
  EXPECT_EQ(JsonField(out, "len(d['pairs'])"), "2");
  EXPECT_EQ(JsonField(out, "d['pairs'][0]['members'][1]['info']['disk_state']"), "UpToDate");
  EXPECT_EQ(JsonField(out, "len(d['clients'])"), "1");
  EXPECT_EQ(JsonField(out, "d['meta_address']"), c.meta_address());

  // A member down: degraded, exit 1, and the pair says which.
  c.Kill(Cluster::MemberName(1, 1));
  EXPECT_EQ(c.Cli({"status"}, &out), 1) << out;
  EXPECT_NE(out.find("health: degraded"), std::string::npos) << out;
  EXPECT_EQ(c.Cli({"status", "--json"}, &out), 1) << out;
  EXPECT_EQ(JsonField(out, "[p['healthy'] for p in d['pairs']]"), "[True, False]");
  EXPECT_EQ(JsonField(out, "d['pairs'][1]['members'][1]['reachable']"), "False");
  ASSERT_OK(c.StartDaemon(Cluster::MemberName(1, 1)));
  for (int i = 0; i < 100 && c.Cli({"status"}, &out) != 0; ++i) usleep(200 * 1000);
  EXPECT_EQ(c.Cli({"status"}, &out), 0) << "healthy again once the member resynced:\n" << out;

  // Meta down: status says so within about 3 s (exit 2), naming the address;
  // so does every other admin command (exit 1).
  ASSERT_OK(c.Unmount());
  c.Kill("meta");
  for (const std::vector<std::string>& cmd :
       std::vector<std::vector<std::string>>{{"status"}, {"status", "--json"}, {"pair", "list"},
                                             {"fsck"}, {"locks"}, {"verify"}}) {
    const auto start = Clock::now();
    const int rc = c.Cli(cmd, &out);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_EQ(rc, cmd[0] == "status" ? 2 : 1) << cmd[0] << ": " << out;
    EXPECT_LT(seconds, 4.0) << cmd[0] << " took that long without meta";
    if (cmd.size() == 2 && cmd[1] == "--json") {
      EXPECT_EQ(JsonField(out, "d['health']"), "unreachable");
    } else {
      EXPECT_NE(out.find(c.meta_address()), std::string::npos) << cmd[0] << ": " << out;
    }
  }
}

}  // namespace
}  // namespace scalefs::test
