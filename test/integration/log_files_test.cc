// Every daemon and the mount log to glog's files by default: the harness's
// processes in its log folder under their names, and a daemon given no
// --log_dir in the user's state folder. (Rotation past --max_log_size is
// test/common/log_files_test.cc.)
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "test/harness/cluster.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(LogFilesTest, EveryProcessLogsToItsOwnFile) {
  ClusterOptions o;
  o.pairs = 1;
  Cluster c(o);
  ASSERT_OK(c.Start());
  const std::map<std::string, std::string> first_lines{
      {"meta", "scalefs-meta serving"},
      {"pair0a", "chunk member listening"},
      {"pair0b", "chunk member listening"},
      {"client", "mounted " + c.meta_address()}};
  for (const auto& [name, line] : first_lines) {
    const fs::path link = c.LogPath(name);
    ASSERT_TRUE(fs::is_symlink(link)) << link;
    const std::string target = fs::read_symlink(link).string();
    // <name>.log.<YYYYMMDD-HHMMSS>.<pid>, beside the link.
    EXPECT_TRUE(std::regex_match(target, std::regex(name + "\\.log\\.[0-9]{8}-[0-9]{6}\\.[0-9]+")))
        << target;
    EXPECT_NE(Slurp(link).find(line), std::string::npos) << name << ": " << Slurp(link);
  }
  // One file per process start: no WARNING or ERROR files of their own.
  for (const auto& e : fs::directory_iterator(c.state_dir() + "/log")) {
    const std::string n = e.path().filename().string();
    EXPECT_TRUE(std::regex_match(n, std::regex("[a-z0-9]+\\.(log\\..*|INFO|stderr)"))) << n;
  }
}

TEST(LogFilesTest, ADaemonWithoutLogDirLogsInTheUsersStateFolder) {
  char tmpl[] = "/tmp/scalefs-home-XXXXXX";
  const std::string home = mkdtemp(tmpl);
  chmod(home.c_str(), 0777);
  // Its own certificate, readable by the user it runs as.
  const std::string tls = home + "/tls", ca = std::string(SCALEFS_BIN_DIR) + "/scalefs ca ";
  ASSERT_EQ(RunShell(ca + "init --dir " + tls + " && " + ca + "issue meta meta --dir " + tls +
                     " && chown -R 65534:65534 " + tls),
            0);
  const std::string cmd = "cd " + home + " && env -u XDG_STATE_HOME HOME=" + home +
                          " setpriv --reuid=65534 --regid=65534 --clear-groups timeout -s TERM 3 " +
                          SCALEFS_BIN_DIR + "/scalefs-meta --listen=127.0.0.1:" +
                          std::to_string(FreePort()) + " --db=" + home + "/db --ca_cert=" + tls +
                          "/ca.crt --cert=" + tls + "/meta.crt --key=" + tls + "/meta.key";
  std::string out;
  RunShell(cmd, &out);
  const fs::path link = home + "/.local/state/scalefs/scalefs-meta.INFO";
  EXPECT_TRUE(fs::is_symlink(link)) << out;
  EXPECT_NE(Slurp(link).find("scalefs-meta serving"), std::string::npos) << out;
  fs::remove_all(home);
}

}  // namespace
}  // namespace scalefs::test
