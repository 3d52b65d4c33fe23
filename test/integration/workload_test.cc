// Ordinary work on real mounts with the default mount options (issue 12): a
// `make -j2` C build and an autotools + libtool build compared byte for byte
// with the same builds on local disk, on each of two clients of one cluster.
// A POSIX suite checks each call once; a build checks what thousands of calls
// in a row, by many programs, give.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <string>
#include <vector>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"
#include "test/integration/tree_compare.h"
#include "test/integration/workload_projects.h"

namespace scalefs::test {
namespace {

namespace fs = std::filesystem;

std::string Tail(const std::string& s, size_t n = 3000) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `command` under sh in `dir` with the C locale, killed after
// `seconds`; a failure carries the tail of its output.
::testing::AssertionResult Sh(const std::string& dir, const std::string& command,
                              std::string* output = nullptr, int seconds = 300) {
  std::string out;
  const int rc = RunShell("cd " + ShellQuote(dir) + " && LC_ALL=C timeout -k 10 " +
                              std::to_string(seconds) + " sh -c " + ShellQuote(command),
                          &out);
  if (output != nullptr) *output = out;
  if (rc == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "`" << command << "` in " << dir << " exited " << rc
                                       << (rc == 124 ? " (timed out)" : "") << ":\n"
                                       << Tail(out);
}

Status WriteTree(const std::string& root, const std::map<std::string, std::string>& files) {
  for (const auto& [rel, data] : files) {
    const std::string path = root + "/" + rel;
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (ec) return Status::IoError("mkdir -p for " + path + ": " + ec.message());
    Status s = WriteFile(path, data, /*fsync_it=*/false);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

// One cluster, two clients: mount 1 is the cluster's, mount 2 is MountAt's.
class WorkloadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new Cluster();  // the default mount options
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    mnt2_ = cluster_->state_dir() + "/mnt2";
    s = cluster_->MountAt(mnt2_, "client2");
    ASSERT_TRUE(s.ok()) << s.ToString();
    char tmpl[] = "/tmp/scalefs-workload-XXXXXX";  // local disk, outside both mounts
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    local_ = tmpl;
    ready_ = true;
  }
  static void TearDownTestSuite() {
    if (cluster_ != nullptr) cluster_->UnmountAt(mnt2_, "client2");
    delete cluster_;
    cluster_ = nullptr;
    std::error_code ec;
    if (!local_.empty() && std::getenv("SCALEFS_KEEP_TEST_STATE") == nullptr)
      fs::remove_all(local_, ec);
  }
  void SetUp() override {
    ASSERT_TRUE(ready_) << "the cluster did not start";
    name_ =
        std::string(::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name()) +
        "." + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name_.begin(), name_.end(), '/', '_');
    ASSERT_SYS(mkdir(Dir(1).c_str(), 0755));
    ASSERT_SYS(mkdir(Local().c_str(), 0755));
  }
  void TearDown() override {
    if (!ready_) return;
    std::error_code ec;
    fs::remove_all(Dir(1), ec);
    EXPECT_FALSE(ec) << "removing " << Dir(1) << ": " << ec.message();
    fs::remove_all(Local(), ec);
  }
  static std::string Mount(int client) { return client == 1 ? cluster_->mnt() : mnt2_; }
  // This test's folder, as client 1 or 2 sees it.
  std::string Dir(int client) const { return Mount(client) + "/" + name_; }
  std::string Local() const { return local_ + "/" + name_; }

  static Cluster* cluster_;
  static std::string mnt2_;
  static std::string local_;
  static bool ready_;
  std::string name_;
};
Cluster* WorkloadTest::cluster_ = nullptr;
std::string WorkloadTest::mnt2_;
std::string WorkloadTest::local_;
bool WorkloadTest::ready_ = false;

// ---------------------------------------------------------------- builds

// The project built with `make -j2` on each mount is the project built on
// local disk, file for file, and so is what the other client reads of it;
// its program prints what the tables add up to, and make finds nothing to
// redo.
TEST_F(WorkloadTest, MakeBuildMatchesTheSameBuildOnLocalDisk) {
  const Project p = MakeProject();
  const std::string a = Local() + "/a", b = Local() + "/b";
  const std::string on[3] = {"", "/proj1", "/proj2"};  // built by client 1, client 2
  ASSERT_OK(WriteTree(a, p.files));
  ASSERT_OK(WriteTree(b, p.files));
  ASSERT_OK(WriteTree(Dir(1) + on[1], p.files));
  ASSERT_OK(WriteTree(Dir(2) + on[2], p.files));
  const std::string make = "make -j2";
  // All builds at once: two local ones (in different folders, so comparing
  // them shows the outputs do not depend on the folder) and one per client.
  auto local_a = std::async(std::launch::async, [&] { return Sh(a, make); });
  auto local_b = std::async(std::launch::async, [&] { return Sh(b, make); });
  auto client2 = std::async(std::launch::async, [&] { return Sh(Dir(2) + on[2], make); });
  const ::testing::AssertionResult client1 = Sh(Dir(1) + on[1], make);
  const ::testing::AssertionResult built[3] = {::testing::AssertionSuccess(), client1,
                                               client2.get()};
  ASSERT_TRUE(local_a.get()) << "the local reference build failed";
  ASSERT_TRUE(local_b.get()) << "the local reference build failed";
  size_t n = 0;
  ASSERT_TRUE(SameFiles({a, a, "local build"}, {b, b, "second local build"}, {}, &n))
      << "the build is not reproducible on local disk, so nothing can be compared with it";
  for (const char* f :
       {"libwl.a", "libwl.syms", "app", "out.txt", "src/mod00.o", "src/data.c", "src/config.h"})
    ASSERT_TRUE(fs::is_regular_file(a + "/" + f)) << "the local build has no " << f;
  EXPECT_TRUE(Sh(a, "make -q")) << "make -q on local disk: the reference is not up to date";
  for (int builder : {1, 2}) {
    EXPECT_TRUE(built[builder]) << "make -j2 on mount " << builder << " failed";
    if (!built[builder]) continue;
    const std::string dir = Dir(builder) + on[builder];
    for (int reader : {builder, 3 - builder}) {
      const std::string seen = Dir(reader) + on[builder];
      const std::string label =
          "build on mount " + std::to_string(builder) +
          (reader == builder ? "" : " as client " + std::to_string(reader) + " reads it");
      EXPECT_TRUE(SameFiles({a, a, "local build"}, {seen, dir, label}, {}, &n));
      EXPECT_GT(n, p.files.size() + 60) << "the outputs were compared, not only the sources";
      std::string printed;
      EXPECT_TRUE(Sh(seen, "./app", &printed)) << label;
      EXPECT_EQ(printed, p.expected_output) << "./app of the " << label;
      EXPECT_TRUE(Sh(seen, "make -q")) << "make -q finds work to redo in the " << label;
    }
  }
}

// `autoreconf -i && ./configure && make -j2 && make install` of a libtool
// library and program: the build on mount 1 ends as the same one on local
// disk, its programs (libtool's wrapper and the installed one) print what
// they must, and client 2 reads the same files.
TEST_F(WorkloadTest, AutotoolsLibtoolBuildMatchesTheSameBuildOnLocalDisk) {
  const Project p = AutotoolsProject();
  const std::string a = Local() + "/at", m = Dir(1) + "/at";
  ASSERT_OK(WriteTree(a, p.files));
  ASSERT_OK(WriteTree(m, p.files));
  const std::string build =
      "autoreconf -i && ./configure --prefix=/usr CFLAGS=-O2 && make -j2 && "
      "make install DESTDIR=\"$PWD/_inst\"";
  auto local = std::async(std::launch::async, [&] { return Sh(a, build); });
  const ::testing::AssertionResult mounted = Sh(m, build);
  ASSERT_TRUE(local.get()) << "the local reference build failed";
  for (const char* f :
       {"_inst/usr/lib/libwl.so.1.0.0", "_inst/usr/lib/libwl.a", "_inst/usr/bin/wlprog",
        ".libs/libwl.so.1.0.0", "src/.libs/wl00.o", "libtool"})
    ASSERT_TRUE(fs::is_regular_file(a + "/" + f)) << "the local build has no " << f;
  ASSERT_TRUE(mounted) << "the autotools build on mount 1 failed";
  // The logs and autom4te's cache hold timings and their own request order.
  const std::vector<std::string> skip{"autom4te.cache/", "config.log"};
  size_t n = 0;
  EXPECT_TRUE(SameFiles({a, a, "local build"}, {m, m, "build on mount 1"}, skip, &n));
  EXPECT_GT(n, p.files.size() + 20) << "the outputs were compared, not only the sources";
  const std::string installed = "LD_LIBRARY_PATH=_inst/usr/lib _inst/usr/bin/wlprog";
  for (const std::string& dir : {a, m, Dir(2) + "/at"}) {
    std::string printed;
    EXPECT_TRUE(Sh(dir, "./wlprog", &printed));
    EXPECT_EQ(printed, p.expected_output) << "./wlprog (libtool's wrapper) in " << dir;
    EXPECT_TRUE(Sh(dir, installed, &printed));
    EXPECT_EQ(printed, p.expected_output) << "the installed wlprog in " << dir;
  }
  EXPECT_TRUE(SameFiles({a, a, "local build"},
                        {Dir(2) + "/at", m, "build on mount 1 as client 2 reads it"}, skip, &n));
}

}  // namespace
}  // namespace scalefs::test
