// The POSIX operations of the mount, each with its error cases, through a
// real FUSE mount of a real cluster.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

class PosixTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ClusterOptions o;
    o.mount_options = {"allow_other"};
    cluster_ = new Cluster(o);
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    dir_ = cluster_->mnt() + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_SYS(mkdir(dir_.c_str(), 0755));
  }
  std::string P(const std::string& rel) const { return dir_ + "/" + rel; }
  static std::set<std::string> List(const std::string& dir) {
    std::set<std::string> names;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return names;
    while (dirent* e = readdir(d)) names.insert(e->d_name);
    closedir(d);
    return names;
  }

  static Cluster* cluster_;
  std::string dir_;
};
Cluster* PosixTest::cluster_ = nullptr;

TEST_F(PosixTest, CreateWriteReadAndStat) {
  ASSERT_OK(WriteFile(P("f"), "hello, scalefs"));
  auto r = ReadFile(P("f"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "hello, scalefs");
  struct stat st;
  ASSERT_SYS(stat(P("f").c_str(), &st));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 14);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_EQ(st.st_uid, getuid());
  // O_EXCL on an existing file.
  EXPECT_ERRNO(EEXIST, open(P("f").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644));
  EXPECT_ERRNO(ENOENT, open(P("missing").c_str(), O_RDONLY));
  EXPECT_ERRNO(ENOENT, stat(P("missing/x").c_str(), &st));
  EXPECT_ERRNO(ENOTDIR, stat(P("f/x").c_str(), &st));
  EXPECT_ERRNO(ENOTDIR, open(P("f/x").c_str(), O_CREAT | O_WRONLY, 0644));
  EXPECT_ERRNO(EISDIR, open(dir_.c_str(), O_WRONLY));
}

TEST_F(PosixTest, OverwriteAppendAndUnalignedWrites) {
  std::string data = PatternBytes(7, 0, 3 * 1024 * 1024 + 123);  // crosses stripe units
  ASSERT_OK(WriteFile(P("f"), data));
  int fd = open(P("f").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, "XYZ", 3, 1048575), 3);  // straddles units 0 and 1
  memcpy(&data[1048575], "XYZ", 3);
  close(fd);
  fd = open(P("f").c_str(), O_WRONLY | O_APPEND);
  ASSERT_EQ(write(fd, "tail", 4), 4);
  data += "tail";
  close(fd);
  auto r = ReadFile(P("f"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r == data);
}

TEST_F(PosixTest, MkdirRmdirAndTheirErrors) {
  ASSERT_SYS(mkdir(P("d").c_str(), 0750));
  struct stat st;
  ASSERT_SYS(stat(P("d").c_str(), &st));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_nlink, 2u);
  ASSERT_SYS(mkdir(P("d/sub").c_str(), 0755));
  ASSERT_SYS(stat(P("d").c_str(), &st));
  EXPECT_EQ(st.st_nlink, 3u);
  EXPECT_ERRNO(EEXIST, mkdir(P("d").c_str(), 0755));
  EXPECT_ERRNO(ENOENT, mkdir(P("nope/x").c_str(), 0755));
  EXPECT_ERRNO(ENOTEMPTY, rmdir(P("d").c_str()));
  ASSERT_OK(WriteFile(P("file"), "x"));
  EXPECT_ERRNO(ENOTDIR, rmdir(P("file").c_str()));
  EXPECT_ERRNO(ENOENT, rmdir(P("nope").c_str()));
  ASSERT_SYS(rmdir(P("d/sub").c_str()));
  ASSERT_SYS(rmdir(P("d").c_str()));
  EXPECT_ERRNO(ENOENT, stat(P("d").c_str(), &st));
}

TEST_F(PosixTest, UnlinkAndItsErrors) {
  ASSERT_OK(WriteFile(P("f"), "x"));
  ASSERT_SYS(mkdir(P("d").c_str(), 0755));
  EXPECT_ERRNO(EISDIR, unlink(P("d").c_str()));
  EXPECT_ERRNO(ENOENT, unlink(P("missing").c_str()));
  ASSERT_SYS(unlink(P("f").c_str()));
  EXPECT_EQ(List(dir_), (std::set<std::string>{".", "..", "d"}));
}

TEST_F(PosixTest, ReaddirListsEveryEntryOnce) {
  std::set<std::string> expect{".", ".."};
  for (int i = 0; i < 2500; ++i) {  // more than one page of the meta listing
    std::string name = "entry-" + std::to_string(i);
    int fd = open(P(name).c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0) << name;
    close(fd);
    expect.insert(name);
  }
  EXPECT_EQ(List(dir_), expect);
}

TEST_F(PosixTest, RenameCases) {
  ASSERT_OK(WriteFile(P("a"), "A"));
  ASSERT_OK(WriteFile(P("b"), "B"));
  ASSERT_SYS(mkdir(P("d1").c_str(), 0755));
  ASSERT_SYS(mkdir(P("d2").c_str(), 0755));
  ASSERT_SYS(mkdir(P("d2/inner").c_str(), 0755));
  // Over an existing file: atomic replace.
  ASSERT_SYS(rename(P("a").c_str(), P("b").c_str()));
  EXPECT_EQ(*ReadFile(P("b")), "A");
  struct stat st;
  EXPECT_ERRNO(ENOENT, stat(P("a").c_str(), &st));
  // Across directories.
  ASSERT_SYS(rename(P("b").c_str(), P("d1/b").c_str()));
  EXPECT_EQ(*ReadFile(P("d1/b")), "A");
  // A directory across directories keeps its content and fixes nlinks.
  ASSERT_OK(WriteFile(P("d1/c"), "C"));
  ASSERT_SYS(mkdir(P("d1/sub").c_str(), 0755));
  ASSERT_SYS(rename(P("d1/sub").c_str(), P("d2/sub").c_str()));
  ASSERT_SYS(stat(P("d1").c_str(), &st));
  EXPECT_EQ(st.st_nlink, 2u);
  ASSERT_SYS(stat(P("d2").c_str(), &st));
  EXPECT_EQ(st.st_nlink, 4u);
  // Errors.
  EXPECT_ERRNO(ENOENT, rename(P("missing").c_str(), P("x").c_str()));
  EXPECT_ERRNO(ENOTEMPTY, rename(P("d1").c_str(), P("d2").c_str()));
  EXPECT_ERRNO(EISDIR, rename(P("d1/b").c_str(), P("d2/sub").c_str()));
  EXPECT_ERRNO(ENOTDIR, rename(P("d2/sub").c_str(), P("d1/b").c_str()));
  EXPECT_ERRNO(EINVAL, rename(P("d2").c_str(), P("d2/inner/x").c_str()));
  // A directory over an empty directory.
  ASSERT_SYS(rename(P("d2/sub").c_str(), P("d2/inner").c_str()));
  EXPECT_EQ(List(P("d2")), (std::set<std::string>{".", "..", "inner"}));
  // RENAME_NOREPLACE and RENAME_EXCHANGE.
  ASSERT_OK(WriteFile(P("x"), "X"));
  ASSERT_OK(WriteFile(P("y"), "Y"));
  EXPECT_ERRNO(EEXIST, renameat2(AT_FDCWD, P("x").c_str(), AT_FDCWD, P("y").c_str(), RENAME_NOREPLACE));
  EXPECT_EQ(*ReadFile(P("y")), "Y");
  ASSERT_SYS(renameat2(AT_FDCWD, P("x").c_str(), AT_FDCWD, P("z").c_str(), RENAME_NOREPLACE));
  ASSERT_SYS(renameat2(AT_FDCWD, P("z").c_str(), AT_FDCWD, P("y").c_str(), RENAME_EXCHANGE));
  EXPECT_EQ(*ReadFile(P("y")), "X");
  EXPECT_EQ(*ReadFile(P("z")), "Y");
}

TEST_F(PosixTest, HardLinks) {
  ASSERT_OK(WriteFile(P("f"), "data"));
  ASSERT_SYS(link(P("f").c_str(), P("g").c_str()));
  struct stat a, b;
  ASSERT_SYS(stat(P("f").c_str(), &a));
  ASSERT_SYS(stat(P("g").c_str(), &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  ASSERT_SYS(unlink(P("f").c_str()));
  EXPECT_EQ(*ReadFile(P("g")), "data");
  ASSERT_SYS(stat(P("g").c_str(), &b));
  EXPECT_EQ(b.st_nlink, 1u);
  ASSERT_SYS(mkdir(P("d").c_str(), 0755));
  EXPECT_ERRNO(EPERM, link(P("d").c_str(), P("d2").c_str()));
  EXPECT_ERRNO(EEXIST, link(P("g").c_str(), P("d").c_str()));
  EXPECT_ERRNO(ENOENT, link(P("missing").c_str(), P("h").c_str()));
}

TEST_F(PosixTest, Symlinks) {
  ASSERT_OK(WriteFile(P("target"), "T"));
  ASSERT_SYS(symlink("target", P("l").c_str()));
  char buf[256];
  ssize_t n = readlink(P("l").c_str(), buf, sizeof buf);
  ASSERT_EQ(n, 6);
  EXPECT_EQ(std::string(buf, n), "target");
  EXPECT_EQ(*ReadFile(P("l")), "T");
  struct stat st;
  ASSERT_SYS(lstat(P("l").c_str(), &st));
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_ERRNO(EINVAL, readlink(P("target").c_str(), buf, sizeof buf));
  EXPECT_ERRNO(EEXIST, symlink("x", P("l").c_str()));
}

TEST_F(PosixTest, ModeOwnerTimesAndTruncate) {
  ASSERT_OK(WriteFile(P("f"), std::string(10000, 'a')));
  ASSERT_SYS(chmod(P("f").c_str(), 0600));
  ASSERT_SYS(chown(P("f").c_str(), 1234, 5678));
  struct timespec times[2] = {{1000000000, 5}, {1100000000, 7}};
  ASSERT_SYS(utimensat(AT_FDCWD, P("f").c_str(), times, 0));
  struct stat st;
  ASSERT_SYS(stat(P("f").c_str(), &st));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_mtim.tv_sec, 1100000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 7);
  ASSERT_SYS(truncate(P("f").c_str(), 100));
  ASSERT_SYS(stat(P("f").c_str(), &st));
  EXPECT_EQ(st.st_size, 100);
  EXPECT_EQ(*ReadFile(P("f")), std::string(100, 'a'));
  EXPECT_ERRNO(ENOENT, chmod(P("missing").c_str(), 0600));
  EXPECT_ERRNO(EISDIR, truncate(dir_.c_str(), 0));
}

TEST_F(PosixTest, PermissionsAreEnforcedForOtherUsers) {
  ASSERT_OK(WriteFile(P("secret"), "s"));
  ASSERT_SYS(chmod(P("secret").c_str(), 0600));
  ASSERT_SYS(chmod(dir_.c_str(), 0755));
  pid_t pid = fork();
  if (pid == 0) {
    // Exit status: the failed step; its errno goes to stderr.
    auto fail = [](int step) {
      fprintf(stderr, "non-owner step %d: errno %s\n", step, strerrorname_np(errno));
      _exit(step);
    };
    if (setgid(65534) != 0 || setuid(65534) != 0) fail(10);
    if (open(P("secret").c_str(), O_RDONLY) != -1 || errno != EACCES) fail(11);
    if (open(P("new").c_str(), O_CREAT | O_WRONLY, 0644) != -1 || errno != EACCES) fail(12);
    errno = 0;
    if (chmod(P("secret").c_str(), 0777) != -1 || errno != EPERM) fail(13);
    if (access(P("secret").c_str(), R_OK) != -1 || errno != EACCES) fail(14);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "step " << WEXITSTATUS(status) << " of the non-owner failed";
  EXPECT_EQ(access(P("secret").c_str(), R_OK | W_OK), 0);
}

TEST_F(PosixTest, NamesTooLong) {
  std::string longname(256, 'n');
  EXPECT_ERRNO(ENAMETOOLONG, open(P(longname).c_str(), O_CREAT | O_WRONLY, 0644));
  EXPECT_ERRNO(ENAMETOOLONG, mkdir(P(longname).c_str(), 0755));
  std::string ok(255, 'n');
  int fd = open(P(ok).c_str(), O_CREAT | O_WRONLY, 0644);
  EXPECT_GE(fd, 0);
  close(fd);
}

TEST_F(PosixTest, Xattrs) {
  ASSERT_OK(WriteFile(P("f"), "x"));
  const std::string f = P("f");
  ASSERT_SYS(setxattr(f.c_str(), "user.color", "blue", 4, 0));
  ASSERT_SYS(setxattr(f.c_str(), "user.size", "42", 2, 0));
  char buf[64];
  EXPECT_EQ(getxattr(f.c_str(), "user.color", buf, sizeof buf), 4);
  EXPECT_EQ(std::string(buf, 4), "blue");
  EXPECT_EQ(getxattr(f.c_str(), "user.color", nullptr, 0), 4);  // size probe
  EXPECT_ERRNO(ERANGE, getxattr(f.c_str(), "user.color", buf, 2));
  EXPECT_ERRNO(ENODATA, getxattr(f.c_str(), "user.none", buf, sizeof buf));
  EXPECT_ERRNO(EEXIST, setxattr(f.c_str(), "user.color", "red", 3, XATTR_CREATE));
  EXPECT_ERRNO(ENODATA, setxattr(f.c_str(), "user.none", "red", 3, XATTR_REPLACE));
  ssize_t n = listxattr(f.c_str(), buf, sizeof buf);
  ASSERT_GT(n, 0);
  std::set<std::string> names;
  for (ssize_t i = 0; i < n; i += strlen(buf + i) + 1) names.insert(buf + i);
  EXPECT_EQ(names, (std::set<std::string>{"user.color", "user.size"}));
  ASSERT_SYS(removexattr(f.c_str(), "user.color"));
  EXPECT_ERRNO(ENODATA, removexattr(f.c_str(), "user.color"));
  EXPECT_ERRNO(ENODATA, getxattr(f.c_str(), "user.color", buf, sizeof buf));
  // File capabilities are not stored (as on NFS): refused, never half kept.
  // A valid vfs_cap_data, revision 2, granting CAP_NET_BIND_SERVICE.
  const unsigned char cap[20] = {0, 0, 0, 2, 0, 4};
  EXPECT_ERRNO(EOPNOTSUPP, setxattr(f.c_str(), "security.capability", cap, sizeof cap, 0));
  EXPECT_ERRNO(ENODATA, getxattr(f.c_str(), "security.capability", buf, sizeof buf));
}

TEST_F(PosixTest, FallocateExtendsWithZeros) {
  int fd = open(P("f").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_SYS(fallocate(fd, 0, 0, 3 << 20));
  struct stat st;
  ASSERT_SYS(fstat(fd, &st));
  EXPECT_EQ(st.st_size, 3 << 20);
  EXPECT_GE(st.st_blocks * 512, 3 << 20);
  ASSERT_SYS(fallocate(fd, FALLOC_FL_KEEP_SIZE, 3 << 20, 1 << 20));
  ASSERT_SYS(fstat(fd, &st));
  EXPECT_EQ(st.st_size, 3 << 20);
  EXPECT_ERRNO(EOPNOTSUPP, fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 4096));
  close(fd);
  auto r = ReadFile(P("f"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, std::string(3 << 20, '\0'));
}

TEST_F(PosixTest, StatfsShowsTheSumOfThePairs) {
  struct statvfs sv;
  ASSERT_SYS(statvfs(cluster_->mnt().c_str(), &sv));
  // Two pairs of 1 GiB devices.
  EXPECT_EQ(static_cast<uint64_t>(sv.f_blocks) * sv.f_frsize, 2ull << 30);
  EXPECT_LE(sv.f_bfree, sv.f_blocks);
  EXPECT_EQ(sv.f_namemax, 255u);
}

TEST_F(PosixTest, MknodFifo) {
  ASSERT_SYS(mknod(P("fifo").c_str(), S_IFIFO | 0644, 0));
  struct stat st;
  ASSERT_SYS(stat(P("fifo").c_str(), &st));
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_ERRNO(EEXIST, mknod(P("fifo").c_str(), S_IFIFO | 0644, 0));
}

// A second client of the same cluster sees metadata within the attribute
// timeout and data after the writer's close (close-to-open).
TEST_F(PosixTest, TwoClientsShareTheNamespace) {
  const std::string other = cluster_->state_dir() + "/mnt2";
  ASSERT_OK(cluster_->MountAt(other, "client2"));
  const std::string name = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
  const std::string there = other + "/" + name;
  ASSERT_OK(WriteFile(P("shared"), "version 1", /*fsync_it=*/false));
  EXPECT_EQ(*ReadFile(there + "/shared"), "version 1");
  ASSERT_OK(WriteFile(P("shared"), "version two", false));
  EXPECT_EQ(*ReadFile(there + "/shared"), "version two");
  ASSERT_SYS(mkdir(P("made-here").c_str(), 0755));
  struct stat st;
  EXPECT_EQ(stat((there + "/made-here").c_str(), &st), 0);
  ASSERT_SYS(unlink(P("shared").c_str()));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // attribute/entry timeout
  EXPECT_ERRNO(ENOENT, stat((there + "/shared").c_str(), &st));
  ASSERT_OK(cluster_->UnmountAt(other, "client2"));
}

// Many lookups in one directory are answered from a listing of it (see
// fsd/lookup_cache.h). This client's own changes show at once even after the
// kernel dropped its dentries, another client's new file shows at once, and
// its other changes show within the attribute timeout.
TEST_F(PosixTest, ListedLookupsStayCoherent) {
  const std::string other = cluster_->state_dir() + "/mnt3";
  ASSERT_OK(cluster_->MountAt(other, "client3"));
  const std::string there = other + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  constexpr int kFiles = 50;
  auto f = [](int i) { return "f" + std::to_string(i); };
  for (int i = 0; i < kFiles; ++i) ASSERT_OK(WriteFile(P(f(i)), "x", false));
  auto drop_dentries = [] {
    sync();
    FILE* d = fopen("/proc/sys/vm/drop_caches", "w");
    ASSERT_NE(d, nullptr);
    fputs("2", d);
    fclose(d);
  };
  auto stat_all = [&](const std::string& dir) {
    struct stat st;
    for (int i = 0; i < kFiles; ++i) ASSERT_SYS(stat((dir + "/" + f(i)).c_str(), &st));
  };
  drop_dentries();
  stat_all(dir_);   // this client lists the directory
  stat_all(there);  // and so does the other
  struct stat st;

  // This client's changes, seen by itself at once.
  ASSERT_OK(WriteFile(P(f(6)), "longer content", false));
  ASSERT_SYS(unlink(P(f(7)).c_str()));
  ASSERT_SYS(rename(P(f(8)).c_str(), P("moved").c_str()));
  ASSERT_SYS(chmod(P(f(9)).c_str(), 0600));
  drop_dentries();
  ASSERT_SYS(stat(P(f(6)).c_str(), &st));
  EXPECT_EQ(st.st_size, 14);
  EXPECT_ERRNO(ENOENT, stat(P(f(7)).c_str(), &st));
  EXPECT_ERRNO(ENOENT, stat(P(f(8)).c_str(), &st));
  ASSERT_SYS(stat(P("moved").c_str(), &st));
  ASSERT_SYS(stat(P(f(9)).c_str(), &st));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The other client: a new name at once, the rest within the timeout.
  ASSERT_OK(WriteFile(P("new"), "n", false));
  EXPECT_EQ(*ReadFile(there + "/new"), "n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_SYS(stat((there + "/" + f(6)).c_str(), &st));
  EXPECT_EQ(st.st_size, 14);
  EXPECT_EQ(*ReadFile(there + "/" + f(6)), "longer content");
  EXPECT_ERRNO(ENOENT, stat((there + "/" + f(7)).c_str(), &st));
  EXPECT_ERRNO(ENOENT, stat((there + "/" + f(8)).c_str(), &st));
  ASSERT_SYS(stat((there + "/" + f(9)).c_str(), &st));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_OK(cluster_->UnmountAt(other, "client3"));
}

}  // namespace
}  // namespace scalefs::test
