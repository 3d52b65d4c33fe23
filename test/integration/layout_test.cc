// Layouts users see and set: a directory's default layout (stripe unit,
// width, pair set) goes to the files and subdirectories made in it, shows as
// the xattr scalefs.layout, and `scalefs fileinfo` shows where each file's
// bytes are; bad layouts are refused with EINVAL and change nothing.
#include <sys/stat.h>
#include <sys/xattr.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

namespace fs = std::filesystem;

std::string LayoutXattr(const std::string& path) {
  char buf[512];
  const ssize_t n = getxattr(path.c_str(), "scalefs.layout", buf, sizeof buf);
  return n < 0 ? std::string("errno ") + std::to_string(errno) : std::string(buf, n);
}

class LayoutTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ClusterOptions o;
    o.pairs = 3;
    o.device_size = 256ull << 20;
    cluster_ = new Cluster(o);
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  static void TearDownTestSuite() { delete cluster_; }

  // `scalefs fileinfo PATH`: bytes per pair from its per-pair lines, and the
  // pair of every extent line.
  std::map<std::string, uint64_t> WrittenPerPair(const std::string& path) {
    std::string out;
    EXPECT_EQ(cluster_->Cli({"fileinfo", path}, &out), 0) << out;
    std::map<std::string, uint64_t> per_pair;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream l(line);
      std::string pair, written;
      uint64_t bytes = 0;
      if (l >> pair >> bytes >> written && pair.back() == ':' && written == "bytes") {
        per_pair[pair.substr(0, pair.size() - 1)] = bytes;
      }
    }
    return per_pair;
  }

  static Cluster* cluster_;
};
Cluster* LayoutTest::cluster_ = nullptr;

TEST_F(LayoutTest, DirectoryLayoutGoesToNewFilesAndSubdirectories) {
  const std::string d = cluster_->mnt() + "/only-pair2";
  fs::create_directories(d);
  ASSERT_OK(WriteFile(d + "/before-is-made-later", ""));  // made before: keeps the default
  std::string out;
  ASSERT_EQ(cluster_->Cli({"layout", "set", d, "--width", "1", "--pairs", "pair2"}, &out), 0) << out;
  EXPECT_EQ(LayoutXattr(d), "unit=1048576 width=1 pairs=pair2");
  fs::create_directories(d + "/sub");
  EXPECT_EQ(LayoutXattr(d + "/sub"), "unit=1048576 width=1 pairs=pair2") << "inherited";
  for (const std::string f : {d + "/a", d + "/sub/b"}) {
    ASSERT_OK(WritePatternFile(f, 7, 5u << 20));
    EXPECT_EQ(LayoutXattr(f), "unit=1048576 width=1 pairs=pair2");
    const auto per_pair = WrittenPerPair(f);
    EXPECT_EQ(per_pair, (std::map<std::string, uint64_t>{{"pair2", 5u << 20}})) << f;
    ASSERT_OK(CheckPatternFile(f, 7, 5u << 20));
  }
  // A file made before keeps the layout it was made with (all three pairs).
  EXPECT_NE(LayoutXattr(d + "/before-is-made-later").find(" width=3 "), std::string::npos)
      << LayoutXattr(d + "/before-is-made-later");

  // Unit and width: a 16 MiB file in 4 MiB units over two pairs.
  const std::string e = cluster_->mnt() + "/wide";
  fs::create_directories(e);
  ASSERT_EQ(cluster_->Cli({"layout", "set", e, "--unit", "4M", "--width", "2"}, &out), 0) << out;
  ASSERT_OK(WritePatternFile(e + "/f", 9, 16u << 20));
  const auto per_pair = WrittenPerPair(e + "/f");
  ASSERT_EQ(per_pair.size(), 2u) << out;
  for (const auto& [p, bytes] : per_pair) EXPECT_EQ(bytes, 8u << 20) << p;
  EXPECT_NE(LayoutXattr(e + "/f").find("unit=4194304 width=2"), std::string::npos);
  // The root has no layout of its own: every pair.
  EXPECT_EQ(LayoutXattr(cluster_->mnt()), "unit=1048576 width=all pairs=all");
  // Removing a directory's layout brings the default back.
  ASSERT_EQ(removexattr(e.c_str(), "scalefs.layout"), 0) << strerror(errno);
  EXPECT_EQ(LayoutXattr(e), "unit=1048576 width=all pairs=all");
  ASSERT_EQ(cluster_->Cli({"verify"}, &out), 0) << out;
  ASSERT_EQ(cluster_->Cli({"fsck"}, &out), 0) << out;
}

TEST_F(LayoutTest, BadLayoutsAreRefusedAndChangeNothing) {
  const std::string d = cluster_->mnt() + "/refusals";
  fs::create_directories(d);
  std::string out;
  ASSERT_EQ(cluster_->Cli({"layout", "set", d, "--unit", "2M", "--pairs", "pair0,pair1"}, &out), 0);
  const std::string before = LayoutXattr(d);
  EXPECT_EQ(before, "unit=2097152 width=all pairs=pair0,pair1");
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"--pairs", "pair9"}, "no pair named 'pair9'"},
      {{"--width", "3"}, "width 3 is more than the 2 pairs it may use"},
      {{"--unit", "1000"}, "must be a multiple of 4 KiB"},
      {{"--unit", "128M"}, "at most 64M"},
      {{"--width", "0"}, "must be a number of pairs"},
      {{"--pairs", "pair0,pair0"}, "twice"},
  };
  for (const auto& [flags, message] : bad) {
    std::vector<std::string> args{"layout", "set", d};
    args.insert(args.end(), flags.begin(), flags.end());
    EXPECT_EQ(cluster_->Cli(args, &out), 1) << flags[0] << " " << flags[1];
    EXPECT_NE(out.find("EINVAL"), std::string::npos) << out;
    EXPECT_NE(out.find(message), std::string::npos) << out;
    EXPECT_EQ(LayoutXattr(d), before) << "a refused layout changed the directory";
  }
  // A file's layout is fixed; usage errors are usage errors.
  ASSERT_OK(WriteFile(d + "/file", "x"));
  EXPECT_EQ(cluster_->Cli({"layout", "set", d + "/file", "--width", "1"}, &out), 1);
  EXPECT_NE(out.find("only a directory's layout can be set"), std::string::npos) << out;
  EXPECT_EQ(cluster_->Cli({"layout", "set", d, "--stripes", "2"}, &out), 2);
  EXPECT_EQ(cluster_->Cli({"layout", "frob", d}, &out), 2);
  EXPECT_EQ(cluster_->Cli({"fileinfo", "/tmp"}, &out), 1);
  EXPECT_NE(out.find("not on a scalefs mount"), std::string::npos) << out;
  // Through the mount: the same refusal, as errno.
  const std::string v = "width=5";
  EXPECT_EQ(setxattr(d.c_str(), "scalefs.layout", v.data(), v.size(), 0), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(LayoutXattr(d), before);
}

}  // namespace
}  // namespace scalefs::test
