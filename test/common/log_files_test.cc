// LogToFiles: a process logs to glog's files in --log_dir under its name,
// one file of every severity, and starts a new file past --max_log_size.
#include "common/log_files.h"

#include <gflags/gflags.h>
#include <glog/logging.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace scalefs {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> LogFiles(const std::string& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) == 0 && e.is_regular_file()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(LogFilesTest, WritesItsFileAndStartsANewOnePastTheSizeLimit) {
  char tmpl[] = "/tmp/scalefs-logs-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  SetLogFlagDefaults();
  StartLogging("log_files_test");
  FLAGS_log_dir = dir + "/sub";  // created by LogToFiles
  FLAGS_max_log_size = 1;        // MB, glog's smallest
  auto link = LogToFiles("unit");
  ASSERT_TRUE(link.ok()) << link.status().ToString();
  EXPECT_EQ(*link, dir + "/sub/unit.INFO");
  LOG(WARNING) << "first line";
  std::vector<fs::path> files = LogFiles(dir + "/sub", "unit.log.");
  ASSERT_EQ(files.size(), 1u);
  // Written at once (no buffering), warnings in the one file.
  EXPECT_NE(Slurp(files[0]).find("first line"), std::string::npos);
  EXPECT_EQ(fs::read_symlink(*link), files[0].filename());

  // Past 1 MiB the next line goes to a new file. glog names files by the
  // second, so the test logs until the clock lets it make the second one.
  const std::string line(1000, 'x');
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int i = 0; files.size() < 2 && std::chrono::steady_clock::now() < until; ++i) {
    LOG(INFO) << i << " " << line;
    if (i % 500 == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      files = LogFiles(dir + "/sub", "unit.log.");
    }
  }
  ASSERT_GE(files.size(), 2u) << "no second log file";
  EXPECT_GE(fs::file_size(files[0]), 1u << 20);
  EXPECT_LT(fs::file_size(files[0]), 2u << 20);
  LOG(INFO) << "after the rotation";
  files = LogFiles(dir + "/sub", "unit.log.");
  EXPECT_EQ(fs::read_symlink(*link), files.back().filename());
  EXPECT_NE(Slurp(files.back()).find("after the rotation"), std::string::npos);
  EXPECT_EQ(Slurp(files[0]).find("after the rotation"), std::string::npos);
  // Only the INFO file: no file per severity beside it.
  for (const auto& e : fs::directory_iterator(dir + "/sub")) {
    const std::string n = e.path().filename().string();
    EXPECT_TRUE(n.rfind("unit.log.", 0) == 0 || n == "unit.INFO") << n;
  }
  fs::remove_all(dir);
}

TEST(LogFilesTest, LogtostderrKeepsTheLogOnStderr) {
  SetLogFlagDefaults();
  ASSERT_FALSE(gflags::SetCommandLineOption("logtostderr", "true").empty());
  char tmpl[] = "/tmp/scalefs-logs-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  FLAGS_log_dir = dir;
  auto link = LogToFiles("unit");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(*link, "");
  EXPECT_TRUE(FLAGS_logtostderr);
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST(LogFilesTest, AFolderThatCannotBeMadeIsAnErrorNamingIt) {
  SetLogFlagDefaults();
  FLAGS_log_dir = "/proc/no/such/folder";
  auto link = LogToFiles("unit");
  ASSERT_FALSE(link.ok());
  EXPECT_NE(link.status().message().find("/proc/no/such/folder"), std::string::npos)
      << link.status().ToString();
}

}  // namespace
}  // namespace scalefs
