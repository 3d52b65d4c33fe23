// Ordinary work on real mounts with the default mount options (issue 12): a
// `make -j2` C build and an autotools + libtool build compared byte for byte
// with the same builds on local disk, dd-style sequential reads of closed
// files, the save-by-rename loop of editors and build tools, and `cp -a` and
// `cp -p` of a tree with mixed modes, links and xattrs, in and back out. A
// POSIX suite checks each call once; these check what a build, a copy and a
// save rely on over thousands of calls in a row, on each of two clients.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <string>
#include <tuple>
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

// ------------------------------------------------------- sequential reads

struct Clients {
  int writer;
  int reader;
};
void PrintTo(const Clients& c, std::ostream* os) {
  *os << "written on mount " << c.writer << ", read on mount " << c.reader;
}

class SequentialReadTest : public WorkloadTest, public ::testing::WithParamInterface<Clients> {};

struct SeqFile {
  std::string name;
  uint64_t size;
  bool renamed;  // written under a temporary name, then renamed into place
};

// 100 KB to 8 MiB, none a multiple of the 64 KiB read block; 348,342 bytes
// is libtool's script, which bash read short.
std::vector<SeqFile> SeqFiles() {
  const uint64_t sizes[] = {100000,  102401,  348342,  500009,  786431,  1000003, 1048575, 1572865,
                            2097153, 2500001, 3333333, 4194303, 5000011, 6291457, 7340031, 8388607};
  std::vector<SeqFile> files;
  for (size_t i = 0; i < std::size(sizes); ++i)
    files.push_back({"f" + std::to_string(i), sizes[i], i % 2 == 1});
  return files;
}

// Written as cp, loggers and compilers write, `chunk` bytes per write(),
// without fsync, then closed.
Status WriteClosed(const std::string& path, const std::string& data, size_t chunk) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  for (size_t done = 0; done < data.size();) {
    ssize_t n = write(fd, data.data() + done, std::min(chunk, data.size() - done));
    if (n < 0) {
      int e = errno;
      close(fd);
      return Status::FromErrno(e, "write " + path);
    }
    done += n;
  }
  if (close(fd) != 0) return Status::FromErrno(errno, "close " + path);
  return Status::OK();
}

// Reads `path` as `dd bs=N` does, read() of `bs` until it returns 0; ""
// when it read exactly `want` and stat then shows its size, else what differed.
std::string ReadAsDd(const std::string& path, const std::string& want, size_t bs) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return "open: " + ErrnoName(errno);
  std::string buf(bs, '\0');
  uint64_t total = 0;
  int64_t first_diff = -1;
  for (;;) {
    ssize_t n = read(fd, buf.data(), bs);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string e = "read at " + std::to_string(total) + ": " + ErrnoName(errno);
      close(fd);
      return e;
    }
    if (n == 0) break;
    for (ssize_t i = 0; i < n && first_diff < 0; ++i) {
      if (total + i >= want.size() || buf[i] != want[total + i]) first_diff = total + i;
    }
    total += n;
  }
  close(fd);
  struct stat st;
  const std::string size =
      stat(path.c_str(), &st) == 0 ? std::to_string(st.st_size) : ErrnoName(errno);
  if (total == want.size() && first_diff < 0 && size == std::to_string(want.size())) return "";
  return "got " + std::to_string(total) + " bytes, expected " + std::to_string(want.size()) +
         (first_diff >= 0 ? ", first wrong byte at " + std::to_string(first_diff) : "") +
         ", then stat shows " + size;
}

// Drops the page cache of the files, and the kernel's dentries and inodes
// where this process may (root), so the next open starts from a lookup.
void DropCaches(const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) continue;
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
  std::ofstream("/proc/sys/vm/drop_caches") << "3\n";
}

// Closed files of random bytes read back whole, in 4, 16 and 128 KiB
// read()s, with the page cache as it is and after dropping it; stat shows
// the written size after the reads, on both clients.
TEST_P(SequentialReadTest, ClosedFilesReadBackWholeInSmallBlocks) {
  const Clients c = GetParam();
  const std::vector<SeqFile> files = SeqFiles();
  const std::string wdir = Dir(c.writer), rdir = Dir(c.reader);
  std::vector<std::string> contents, read_paths;
  const size_t chunks[] = {128 << 10, 4096, 1 << 20, 10000};
  for (size_t i = 0; i < files.size(); ++i) {
    const SeqFile& f = files[i];
    ASSERT_NE(f.size % (64 << 10), 0u);
    contents.push_back(PatternBytes(1000 + i, 0, f.size));
    const std::string path = wdir + "/" + f.name;
    const std::string tmp = f.renamed ? wdir + "/." + f.name + ".tmp" : path;
    ASSERT_OK(WriteClosed(tmp, contents.back(), chunks[i % std::size(chunks)]));
    if (f.renamed) ASSERT_SYS(rename(tmp.c_str(), path.c_str()));
    read_paths.push_back(rdir + "/" + f.name);
  }
  std::vector<std::string> wrong;
  std::map<std::string, int> wrong_by_bs;
  int reads = 0;
  for (const char* cache : {"the page cache as it was", "after dropping the page cache"}) {
    if (reads > 0) DropCaches(read_paths);
    for (size_t bs : {size_t{4} << 10, size_t{16} << 10, size_t{128} << 10}) {
      for (size_t i = 0; i < files.size(); ++i) {
        ++reads;
        const std::string diff = ReadAsDd(read_paths[i], contents[i], bs);
        if (diff.empty()) continue;
        ++wrong_by_bs["bs=" + std::to_string(bs) + ", " + cache];
        wrong.push_back(files[i].name + " (" + std::to_string(files[i].size) + " bytes" +
                        (files[i].renamed ? ", renamed into place" : "") +
                        ") with bs=" + std::to_string(bs) + ", " + cache + ": " + diff);
      }
    }
  }
  std::string summary;
  for (const auto& [how, count] : wrong_by_bs)
    summary +=
        "\n  " + std::to_string(count) + " of " + std::to_string(files.size()) + " with " + how;
  for (size_t i = 0; i < wrong.size() && i < 10; ++i) summary += "\n  " + wrong[i];
  EXPECT_TRUE(wrong.empty()) << wrong.size() << " of " << reads << " whole-file reads on mount "
                             << c.reader << " of files written on mount " << c.writer
                             << " and closed differ:" << summary;
  for (int client : {c.reader, c.writer}) {
    for (const SeqFile& f : files) {
      struct stat st;
      ASSERT_SYS(stat((Dir(client) + "/" + f.name).c_str(), &st));
      EXPECT_EQ(static_cast<uint64_t>(st.st_size), f.size)
          << "stat size of " << f.name << " on mount " << client << " after the reads";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Clients, SequentialReadTest,
                         ::testing::Values(Clients{1, 1}, Clients{1, 2}, Clients{2, 2},
                                           Clients{2, 1}),
                         [](const ::testing::TestParamInfo<Clients>& i) {
                           return "WrittenOn" + std::to_string(i.param.writer) + "ReadOn" +
                                  std::to_string(i.param.reader);
                         });

// ------------------------------------------------------- save by rename

class OnClient : public WorkloadTest, public ::testing::WithParamInterface<int> {};

std::string ClientName(const ::testing::TestParamInfo<int>& i) {
  return "Mount" + std::to_string(i.param);
}

// "" when `path` was created (or truncated), written whole and closed.
std::string CreateAndWrite(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return "open(O_CREAT|O_TRUNC): " + ErrnoName(errno);
  ssize_t n = write(fd, data.data(), data.size());
  if (n != static_cast<ssize_t>(data.size())) {
    std::string e = "write: " + (n < 0 ? ErrnoName(errno) : std::to_string(n) + " bytes");
    close(fd);
    return e;
  }
  if (close(fd) != 0) return "close: " + ErrnoName(errno);
  return "";
}

// An editor's or a build tool's save, a thousand times: write A, write B,
// rename B over A, remove A; B is created again in the next round. Not one
// call may fail, B is gone after each rename and A holds what B held.
TEST_P(OnClient, SaveByRenameLoopHasNoErrors) {
  constexpr int kRounds = 1000;
  const std::string dir = Dir(GetParam());
  const std::string a = dir + "/A", b = dir + "/B";
  std::map<std::string, int> kinds;  // failure -> rounds
  std::vector<std::string> first;
  int failed_rounds = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string da = "A of round " + std::to_string(round) + "\n";
    const std::string db = PatternBytes(round, 0, 100 + round * 7 % 5000);
    std::vector<std::string> wrong;  // every step of this round that went wrong
    if (std::string e = CreateAndWrite(a, da); !e.empty()) wrong.push_back("A: " + e);
    if (std::string e = CreateAndWrite(b, db); !e.empty()) wrong.push_back("B: " + e);
    if (rename(b.c_str(), a.c_str()) != 0) wrong.push_back("rename(B, A): " + ErrnoName(errno));
    struct stat st;
    if (stat(b.c_str(), &st) == 0) {
      wrong.push_back("stat(B) after the rename finds it");
    } else if (errno != ENOENT) {
      wrong.push_back("stat(B) after the rename: " + ErrnoName(errno) + ", expected ENOENT");
    }
    if (auto got = Slurp(a); !got.ok()) {
      wrong.push_back("reading A after the rename: " + ErrnoName(got.status().errno_value()));
    } else if (*got != db) {
      wrong.push_back("A after the rename does not hold what B held");
    }
    if (unlink(a.c_str()) != 0) wrong.push_back("unlink(A): " + ErrnoName(errno));
    if (stat(a.c_str(), &st) == 0) wrong.push_back("stat(A) after unlink finds it");
    if (wrong.empty()) continue;
    ++failed_rounds;
    std::string all;
    for (const std::string& w : wrong) {
      ++kinds[w];
      all += (all.empty() ? "" : "; ") + w;
    }
    if (first.size() < 8) first.push_back("round " + std::to_string(round) + ": " + all);
  }
  std::string summary;
  for (const auto& [what, count] : kinds)
    summary += "\n  " + std::to_string(count) + " rounds: " + what;
  for (const std::string& f : first) summary += "\n  " + f;
  EXPECT_EQ(failed_rounds, 0) << failed_rounds << " of " << kRounds << " rounds failed on mount "
                              << GetParam() << ":" << summary;
  auto left = RegularFiles(dir, {});
  EXPECT_TRUE(left.empty()) << left.size() << " files left, e.g. " << left.begin()->first;
}

// ------------------------------------------------------------------ cp

// A tree as people copy it: modes 0644 0755 0600 0700 0711 0750, another
// owner, a script and a program that run, relative, absolute and dangling
// symlinks, a symlink to a folder, a hard link across folders, user xattrs
// on files and a folder, an empty folder, files of a few bytes to 1.5 MB,
// all with old mtimes as a restored backup has them.
Status MakeTree(const std::string& root) {
  auto program = Slurp("/usr/bin/true");
  if (!program.ok()) return program.status();
  struct Entry {
    std::string rel;
    mode_t mode;
    std::string data;  // for files
  };
  const std::vector<Entry> dirs = {{"", 0755, ""},         {"bin", 0755, ""},
                                   {"private", 0700, ""},  {"shared", 0750, ""},
                                   {"traverse", 0711, ""}, {"traverse/inner", 0755, ""},
                                   {"empty", 0755, ""},    {"links", 0755, ""}};
  const std::vector<Entry> files = {
      {"readme.txt", 0644, "a tree to copy\n"},
      {"secret.key", 0600, PatternBytes(1, 0, 3000)},
      {"bin/hello.sh", 0755, "#!/bin/sh\necho \"hello from $(basename \"$0\")\"\n"},
      {"bin/tool", 0711, *program},
      {"private/notes", 0600, "private notes\n"},
      {"shared/data.bin", 0644, PatternBytes(2, 0, 200000)},
      {"shared/big.bin", 0640, PatternBytes(3, 0, 1500001)},
      {"traverse/inner/deep.txt", 0644, "deep\n"},
      {"hard_a", 0644, "one inode, two names\n"},
      {"empty.txt", 0644, ""}};
  for (const Entry& d : dirs) {
    const std::string p = root + "/" + d.rel;
    if (mkdir(p.c_str(), 0755) != 0) return Status::FromErrno(errno, "mkdir " + p);
  }
  for (const Entry& f : files) {
    const std::string p = root + "/" + f.rel;
    Status s = WriteFile(p, f.data, false);
    if (!s.ok()) return s;
    if (chmod(p.c_str(), f.mode) != 0) return Status::FromErrno(errno, "chmod " + p);
  }
  const std::pair<const char*, const char*> links[] = {{"../readme.txt", "links/relative"},
                                                       {"../no/such/file", "links/dangling"},
                                                       {"/nonexistent/target", "links/absolute"},
                                                       {"../shared", "links/to_dir"}};
  for (const auto& [target, rel] : links) {
    if (symlink(target, (root + "/" + rel).c_str()) != 0)
      return Status::FromErrno(errno, std::string("symlink ") + rel);
  }
  if (link((root + "/hard_a").c_str(), (root + "/shared/hard_b").c_str()) != 0)
    return Status::FromErrno(errno, "link");
  const std::string checksum = PatternBytes(4, 0, 32);  // binary
  const std::tuple<std::string, std::string, std::string> xattrs[] = {
      {"readme.txt", "user.mime_type", "text/plain"},
      {"readme.txt", "user.empty", ""},
      {"shared/data.bin", "user.checksum", checksum},
      {"shared", "user.project", "scalefs"},
      {"bin/tool", "user.origin", "/usr/bin/true"}};
  for (const auto& [rel, name, value] : xattrs) {
    const std::string p = root + "/" + rel;
    if (setxattr(p.c_str(), name.c_str(), value.data(), value.size(), 0) != 0)
      return Status::FromErrno(errno, "setxattr " + name + " on " + p);
  }
  for (const char* rel : {"secret.key", "shared/big.bin", "links/relative"}) {
    if (lchown((root + "/" + rel).c_str(), 1234, 5678) != 0)
      return Status::FromErrno(errno, std::string("lchown ") + rel);
  }
  if (chown((root + "/shared").c_str(), 0, 5678) != 0) return Status::FromErrno(errno, "chown");
  // Modes last: a folder's own mode must not keep this process out while filling it.
  for (const Entry& d : dirs) {
    if (chmod((root + "/" + d.rel).c_str(), d.mode) != 0)
      return Status::FromErrno(errno, "chmod " + d.rel);
  }
  // Old times, the folders' after their entries.
  int age = 0;
  for (const auto& m : Manifest(root)) {
    const timespec t[2] = {{1500000000 + age, 0}, {1600000000 + 1000 * age++, 123456789}};
    const std::string p = root + "/" + m.first;
    if (utimensat(AT_FDCWD, p.c_str(), t, AT_SYMLINK_NOFOLLOW) != 0)
      return Status::FromErrno(errno, "utimensat " + p);
  }
  return Status::OK();
}

// The hard link of the tree is still one inode with two names.
::testing::AssertionResult StillLinked(const std::string& root) {
  struct stat x, y;
  if (lstat((root + "/hard_a").c_str(), &x) != 0 || lstat((root + "/shared/hard_b").c_str(), &y))
    return ::testing::AssertionFailure() << "lstat under " << root << ": " << ErrnoName(errno);
  if (x.st_ino != y.st_ino || x.st_nlink != 2 || y.st_nlink != 2)
    return ::testing::AssertionFailure()
           << "under " << root << ", hard_a is inode " << x.st_ino << " with " << x.st_nlink
           << " links and shared/hard_b inode " << y.st_ino << " with " << y.st_nlink
           << " links: expected one inode with 2";
  return ::testing::AssertionSuccess();
}

// cp -a of the tree into mount N keeps every path's contents, type, mode,
// link count, owner, mtime, symlink target and user xattrs, the hard link
// stays one inode, the copied programs run; both clients see it so, and
// cp -a back out of either mount gives the tree again.
TEST_P(OnClient, CpArchiveIntoTheMountAndBackKeepsEverything) {
  const int client = GetParam(), other = 3 - client;
  const std::string src = Local() + "/src";
  ASSERT_OK(MakeTree(src));
  const auto want = Manifest(src);
  ASSERT_TRUE(Sh(Local(), "cp -a src " + ShellQuote(Dir(client) + "/copy")));
  for (int c : {client, other}) {
    const std::string copy = Dir(c) + "/copy";
    const std::string label = "the copy on mount " + std::to_string(c);
    EXPECT_TRUE(Sh(Local(), "diff -r --no-dereference src " + ShellQuote(copy))) << label;
    EXPECT_TRUE(SameManifest(want, "the source", Manifest(copy), label));
    EXPECT_TRUE(StillLinked(copy)) << label;
    std::string out;
    EXPECT_TRUE(Sh(copy, "./bin/hello.sh && ./bin/tool", &out)) << label;
    EXPECT_EQ(out, "hello from hello.sh\n") << label;
  }
  for (int c : {client, other}) {
    const std::string back = Local() + "/back" + std::to_string(c);
    ASSERT_TRUE(Sh(Local(), "cp -a " + ShellQuote(Dir(c) + "/copy") + " " + back));
    const std::string label = "cp -a back out of mount " + std::to_string(c);
    EXPECT_TRUE(Sh(Local(), "diff -r --no-dereference src " + back)) << label;
    EXPECT_TRUE(SameManifest(want, "the source", Manifest(back), label));
    EXPECT_TRUE(StillLinked(back)) << label;
  }
}

// cp -rp into mount N and back out of either mount ends as cp -rp on local
// disk does (mode, owner and mtime kept; hard links and xattrs not).
TEST_P(OnClient, CpPreserveIntoTheMountAndBackMatchesLocalDisk) {
  const int client = GetParam(), other = 3 - client;
  const std::string src = Local() + "/src";
  ASSERT_OK(MakeTree(src));
  ASSERT_TRUE(Sh(Local(), "cp -rp src ref"));
  const auto want = Manifest(Local() + "/ref");
  ASSERT_TRUE(Sh(Local(), "cp -rp src " + ShellQuote(Dir(client) + "/copy")));
  for (int c : {client, other}) {
    const std::string copy = Dir(c) + "/copy";
    const std::string label = "cp -rp on mount " + std::to_string(c);
    EXPECT_TRUE(Sh(Local(), "diff -r --no-dereference src " + ShellQuote(copy))) << label;
    EXPECT_TRUE(SameManifest(want, "cp -rp on local disk", Manifest(copy), label));
    const std::string back = Local() + "/back" + std::to_string(c);
    ASSERT_TRUE(Sh(Local(), "cp -rp " + ShellQuote(copy) + " " + back));
    EXPECT_TRUE(Sh(Local(), "diff -r --no-dereference src " + back)) << "back out of mount " << c;
    EXPECT_TRUE(SameManifest(want, "cp -rp on local disk", Manifest(back),
                             "cp -rp back out of mount " + std::to_string(c)));
  }
}

INSTANTIATE_TEST_SUITE_P(Clients, OnClient, ::testing::Values(1, 2), ClientName);

}  // namespace
}  // namespace scalefs::test
