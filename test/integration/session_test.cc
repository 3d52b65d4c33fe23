// What client sessions at meta give applications, through real mounts:
// a file unlinked while open keeps its data on every client until the last
// close (or its client's session ends), locks hold across hosts, and
// `scalefs status` shows who is mounted.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kSessionTimeoutS = 3;

uint64_t UsedBytes(const std::string& mnt) {
  struct statvfs sv;
  if (statvfs(mnt.c_str(), &sv) != 0) return 0;
  return (static_cast<uint64_t>(sv.f_blocks) - sv.f_bfree) * sv.f_frsize;
}

// The used bytes once the releases of files closed just before went out
// (they are sent in batches every 20 ms, giving back unwritten space).
uint64_t UsedNow(const std::string& mnt) {
  std::this_thread::sleep_for(200ms);
  return UsedBytes(mnt);
}

// Waits up to `seconds` for the used bytes to drop to `want`.
uint64_t UsedSettles(const std::string& mnt, uint64_t want, double seconds) {
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  uint64_t used = UsedBytes(mnt);
  while (used != want && Clock::now() < until) {
    std::this_thread::sleep_for(50ms);
    used = UsedBytes(mnt);
  }
  return used;
}

Status PwriteAll(int fd, const std::string& data, uint64_t off) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done, off + done);
    if (n < 0) return Status::FromErrno(errno, "pwrite at " + std::to_string(off + done));
    done += n;
  }
  return Status::OK();
}

std::string PreadAll(int fd, uint64_t off, size_t n) {
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    ssize_t got = pread(fd, out.data() + done, n - done, off + done);
    if (got <= 0) break;
    done += got;
  }
  out.resize(done);
  return out;
}

class SessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ClusterOptions o;
    o.device_size = 128ull << 20;  // small, so a test can fill it
    o.mount_options = {"allow_other"};
    o.meta_flags = {"--session_timeout_s=" + std::to_string(kSessionTimeoutS)};
    cluster_ = new Cluster(o);
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    mnt2_ = cluster_->state_dir() + "/mnt2";
    s = cluster_->MountAt(mnt2_, "client2");
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    name_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_SYS(mkdir(A("").c_str(), 0777));
  }
  // The same path through mount 1 and mount 2.
  std::string A(const std::string& rel) const { return cluster_->mnt() + "/" + name_ + "/" + rel; }
  std::string B(const std::string& rel) const { return mnt2_ + "/" + name_ + "/" + rel; }
  static void ExpectFsckClean() {
    std::string out;
    EXPECT_EQ(cluster_->Cli({"fsck"}, &out), 0) << out;
  }

  static Cluster* cluster_;
  static std::string mnt2_;
  std::string name_;
};
Cluster* SessionTest::cluster_ = nullptr;
std::string SessionTest::mnt2_;

// An unlinked file stays readable, writable, fstat-able and fsync-able
// through its descriptor, its blocks are never handed to another file, and
// its space comes back at the last close.
TEST_F(SessionTest, AFileUnlinkedByAnotherClientKeepsItsDataUntilTheLastClose) {
  const uint64_t before = UsedNow(cluster_->mnt());
  int fd = open(A("f").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_SYS(fd);
  ASSERT_OK(PwriteAll(fd, PatternBytes(1, 0, 1 << 20), 0));
  ASSERT_SYS(fsync(fd));
  ASSERT_SYS(unlink(B("f").c_str()));  // the other client removes the name
  std::this_thread::sleep_for(1200ms);  // A's kernel may keep the name for the entry timeout
  struct stat st;
  EXPECT_ERRNO(ENOENT, stat(A("f").c_str(), &st));
  // 10 MiB more through the descriptor, then fsync and fstat.
  const uint64_t kSize = 11 << 20;
  ASSERT_OK(PwriteAll(fd, PatternBytes(1, 1 << 20, kSize - (1 << 20)), 1 << 20));
  ASSERT_SYS(fsync(fd));
  ASSERT_SYS(fstat(fd, &st));
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kSize);
  // Fill the filesystem around it: its blocks must not be given away.
  std::vector<std::string> fill;
  for (int i = 0;; ++i) {
    const std::string path = A("fill" + std::to_string(i));
    Status s = WritePatternFile(path, 100 + i, 8 << 20);
    fill.push_back(path);
    if (!s.ok()) {
      ASSERT_EQ(s.code(), Status::Code::kNoSpace) << s.ToString();
      break;
    }
    ASSERT_LT(i, 100) << "the filesystem never filled up";
  }
  EXPECT_EQ(PreadAll(fd, 0, kSize), PatternBytes(1, 0, kSize)) << "the orphan's bytes changed";
  ASSERT_SYS(ftruncate(fd, 5 << 20));
  ASSERT_SYS(fstat(fd, &st));
  EXPECT_EQ(st.st_size, 5 << 20);
  std::string out;
  ASSERT_EQ(cluster_->Cli({"fsck"}, &out), 0) << out;
  EXPECT_NE(out.find("problems"), std::string::npos);
  ASSERT_SYS(close(fd));
  for (const std::string& p : fill) ASSERT_SYS(unlink(p.c_str()));
  EXPECT_EQ(UsedSettles(cluster_->mnt(), before, 5), before) << "the orphan's space came back";
  ExpectFsckClean();
}

// The temp-file pattern: created, written, unlinked while open, used.
TEST_F(SessionTest, ATempFileUnlinkedWhileOpenWorksToTheEnd) {
  int fd = open(A("tmp").c_str(), O_CREAT | O_RDWR | O_EXCL, 0600);
  ASSERT_SYS(fd);
  ASSERT_OK(PwriteAll(fd, "header", 0));
  ASSERT_SYS(unlink(A("tmp").c_str()));
  ASSERT_OK(PwriteAll(fd, PatternBytes(2, 0, 300000), 6));
  ASSERT_SYS(fsync(fd));
  struct stat st;
  ASSERT_SYS(fstat(fd, &st));
  EXPECT_EQ(st.st_size, 300006);
  EXPECT_EQ(PreadAll(fd, 0, 6), "header");
  EXPECT_EQ(PreadAll(fd, 6, 300000), PatternBytes(2, 0, 300000));
  ASSERT_SYS(close(fd));
  // And a file read from another client after the unlink, as `exec 3<f; rm f; cat <&3`.
  ASSERT_OK(WritePatternFile(A("r"), 3, 2 << 20));
  int rfd = open(B("r").c_str(), O_RDONLY);
  ASSERT_SYS(rfd);
  ASSERT_SYS(unlink(A("r").c_str()));
  std::this_thread::sleep_for(1500ms);  // past the attribute and entry timeouts
  EXPECT_EQ(PreadAll(rfd, 0, 2 << 20), PatternBytes(3, 0, 2 << 20));
  ASSERT_SYS(close(rfd));
  ExpectFsckClean();
}

// O_TMPFILE needs libfuse's tmpfile operation, which the installed libfuse
// does not have: the kernel answers EOPNOTSUPP (as the README says).
TEST_F(SessionTest, OTmpfileIsNotSupported) {
  EXPECT_ERRNO(EOPNOTSUPP, open(A("").c_str(), O_TMPFILE | O_RDWR, 0600));
}

// Runs `fn` in a child process; returns its exit status (0 = fine).
template <typename Fn>
pid_t Child(Fn fn) {
  pid_t pid = fork();
  if (pid == 0) _exit(fn());
  return pid;
}
int Reap(pid_t pid) {
  int ws = 0;
  if (waitpid(pid, &ws, 0) != pid) return -1;
  return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

int SetLock(int fd, short type, off_t start, off_t len, int cmd) {
  struct flock l {};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  l.l_start = start;
  l.l_len = len;
  return fcntl(fd, cmd, &l);
}

TEST_F(SessionTest, LocksOnOneMountExcludeTheOtherMount) {
  ASSERT_OK(WriteFile(A("lock"), "x"));
  int a = open(A("lock").c_str(), O_RDWR);
  ASSERT_SYS(a);
  ASSERT_SYS(flock(a, LOCK_EX));
  ASSERT_SYS(SetLock(a, F_WRLCK, 0, 100, F_SETLK));
  // Mount B, another process (locks of one process never conflict).
  pid_t p = Child([this] {
    int b = open(B("lock").c_str(), O_RDWR);
    if (b < 0) return 10;
    if (flock(b, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK) return 11;
    if (flock(b, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK) return 12;
    if (SetLock(b, F_WRLCK, 50, 10, F_SETLK) == 0 || errno != EAGAIN) return 13;
    if (SetLock(b, F_RDLCK, 0, 1, F_SETLK) == 0 || errno != EAGAIN) return 14;
    if (SetLock(b, F_WRLCK, 200, 100, F_SETLK) != 0) return 15;  // disjoint: fine
    struct flock q {};
    q.l_type = F_WRLCK;
    q.l_whence = SEEK_SET;
    q.l_start = 10;
    q.l_len = 5;
    if (fcntl(b, F_GETLK, &q) != 0 || q.l_type != F_WRLCK || q.l_start != 0 || q.l_len != 100) {
      return 16;
    }
    return 0;
  });
  EXPECT_EQ(Reap(p), 0) << "a conflicting lock on the other mount was not refused";
  // Blocking requests on B wait until A unlocks.
  p = Child([this] {
    int b = open(B("lock").c_str(), O_RDWR);
    const auto t = Clock::now();
    if (flock(b, LOCK_EX) != 0) return 20;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t);
    return ms.count() >= 900 ? 0 : 21;
  });
  pid_t q = Child([this] {
    int b = open(B("lock").c_str(), O_RDWR);
    const auto t = Clock::now();
    if (SetLock(b, F_WRLCK, 0, 0, F_SETLKW) != 0) return 30;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t);
    return ms.count() >= 900 ? 0 : 31;
  });
  std::this_thread::sleep_for(1000ms);
  ASSERT_SYS(flock(a, LOCK_UN));
  ASSERT_SYS(SetLock(a, F_UNLCK, 0, 0, F_SETLK));
  const auto t = Clock::now();
  EXPECT_EQ(Reap(p), 0) << "flock on B did not wait for A";
  EXPECT_EQ(Reap(q), 0) << "F_SETLKW on B did not wait for A";
  EXPECT_LT(Clock::now() - t, 3s) << "the waiters were granted late";
  close(a);
}

// POSIX: closing any descriptor of a file drops the process's record locks
// on it. An OFD lock belongs to its open file description and goes with
// that description's last close.
TEST_F(SessionTest, ACloseDropsThePosixLocksAndTheLastCloseTheOfdLock) {
  ASSERT_OK(WriteFile(A("lock"), "x"));
  auto b_can_lock = [this](off_t start) {
    pid_t p = Child([this, start] {
      int b = open(B("lock").c_str(), O_RDWR);
      return SetLock(b, F_WRLCK, start, 10, F_SETLK) == 0 ? 0 : 1;
    });
    return Reap(p) == 0;
  };
  int a1 = open(A("lock").c_str(), O_RDWR);
  int a2 = open(A("lock").c_str(), O_RDONLY);
  ASSERT_SYS(a1);
  ASSERT_SYS(a2);
  ASSERT_SYS(SetLock(a1, F_WRLCK, 0, 10, F_SETLK));
  EXPECT_FALSE(b_can_lock(0));
  ASSERT_SYS(close(a2));  // another descriptor of the same file
  EXPECT_TRUE(b_can_lock(0)) << "closing a descriptor did not drop the process's lock";
  // An OFD lock stays over a close of another descriptor, and goes with its own.
  int o = open(A("lock").c_str(), O_RDWR);
  ASSERT_SYS(o);
  ASSERT_SYS(SetLock(o, F_WRLCK, 100, 10, F_OFD_SETLK));
  EXPECT_FALSE(b_can_lock(100));
  ASSERT_SYS(close(a1));
  EXPECT_FALSE(b_can_lock(100)) << "an OFD lock went with another descriptor's close";
  ASSERT_SYS(close(o));
  bool free = false;
  for (int i = 0; i < 20 && !free; ++i) {  // released when the kernel releases the file
    free = b_can_lock(100);
    if (!free) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(free) << "the OFD lock outlived its open file description";
}

TEST_F(SessionTest, ASignalInterruptsALockWaitWithEintr) {
  ASSERT_OK(WriteFile(A("lock"), "x"));
  int a = open(A("lock").c_str(), O_RDWR);
  ASSERT_SYS(SetLock(a, F_WRLCK, 0, 0, F_SETLK));
  pid_t p = Child([this] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigaction(SIGALRM, &sa, nullptr);  // no SA_RESTART
    int b = open(B("lock").c_str(), O_RDWR);
    alarm(1);
    if (SetLock(b, F_WRLCK, 0, 0, F_SETLKW) == 0) return 40;
    return errno == EINTR ? 0 : 41;
  });
  EXPECT_EQ(Reap(p), 0) << "the interrupted wait did not end with EINTR";
  // The cancelled wait is gone: nobody but A holds or waits.
  std::string out;
  ASSERT_EQ(cluster_->Cli({"locks"}, &out), 0) << out;
  EXPECT_EQ(out.find("waiting"), std::string::npos) << out;
  ASSERT_SYS(SetLock(a, F_UNLCK, 0, 0, F_SETLK));
  close(a);
}

// The classic test of lock coherence: counters incremented under fcntl
// locks by processes on both mounts end with the exact count.
TEST_F(SessionTest, CountersIncrementedUnderLocksOnTwoMountsAddUp) {
  constexpr int kProcs = 2, kEach = 2500;  // per mount: 2 x 2 x 2500 = 10,000 increments
  ASSERT_OK(WriteFile(A("counter"), std::string(8, '\0')));
  std::vector<pid_t> kids;
  for (const std::string& path : {A("counter"), B("counter")}) {
    for (int i = 0; i < kProcs; ++i) {
      kids.push_back(Child([path] {
        int fd = open(path.c_str(), O_RDWR);
        if (fd < 0) return 50;
        for (int n = 0; n < kEach; ++n) {
          if (SetLock(fd, F_WRLCK, 0, 8, F_SETLKW) != 0) return 51;
          uint64_t v = 0;
          if (pread(fd, &v, 8, 0) != 8) return 52;
          ++v;
          if (pwrite(fd, &v, 8, 0) != 8) return 53;
          if (SetLock(fd, F_UNLCK, 0, 8, F_SETLK) != 0) return 54;
        }
        return close(fd) == 0 ? 0 : 55;
      }));
    }
  }
  for (pid_t k : kids) EXPECT_EQ(Reap(k), 0);
  auto r = ReadFile(B("counter"));
  ASSERT_TRUE(r.ok());
  uint64_t v = 0;
  memcpy(&v, r->data(), 8);
  EXPECT_EQ(v, 2u * kProcs * kEach);
}

// A client that dies takes its locks with it once its session expires.
TEST_F(SessionTest, AKilledClientsLocksAndOrphansGoWhenItsSessionExpires) {
  const std::string mnt3 = cluster_->state_dir() + "/mnt3";
  ASSERT_OK(cluster_->MountAt(mnt3, "client3"));
  const std::string C = mnt3 + "/" + name_ + "/";
  ASSERT_OK(WriteFile(A("lock"), "x"));
  const uint64_t before = UsedNow(cluster_->mnt());
  // Mount 3 holds a lock and an unlinked open file.
  int c = open((C + "lock").c_str(), O_RDWR);
  ASSERT_SYS(c);
  ASSERT_SYS(SetLock(c, F_WRLCK, 0, 0, F_SETLK));
  int o = open((C + "orphan").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_SYS(o);
  ASSERT_OK(PwriteAll(o, PatternBytes(4, 0, 4 << 20), 0));
  ASSERT_SYS(fsync(o));
  ASSERT_SYS(unlink(A("orphan").c_str()));
  std::string out;
  ASSERT_LE(cluster_->Cli({"status"}, &out), 1) << out;  // meta answered (pairs: cli_test)
  EXPECT_NE(out.find("clients: 3"), std::string::npos) << out;
  EXPECT_NE(out.find(mnt3 + "  pid"), std::string::npos) << out;
  EXPECT_NE(out.find("open files 2  locks 1"), std::string::npos) << out;
  // B waits for the lock; then mount 3's client dies.
  pid_t p = Child([this] {
    int b = open(B("lock").c_str(), O_RDWR);
    return SetLock(b, F_WRLCK, 0, 0, F_SETLKW) == 0 ? 0 : 60;
  });
  std::this_thread::sleep_for(300ms);
  cluster_->Kill("client3");
  const auto t = Clock::now();
  EXPECT_EQ(Reap(p), 0);
  const double waited = std::chrono::duration<double>(Clock::now() - t).count();
  EXPECT_LT(waited, kSessionTimeoutS + 2.5) << "granted only " << waited << " s after the kill";
  close(c);
  close(o);
  RunShell("fusermount3 -uz " + mnt3);
  EXPECT_EQ(UsedSettles(cluster_->mnt(), before, kSessionTimeoutS + 3), before)
      << "the dead client's orphan kept its space";
  ASSERT_LE(cluster_->Cli({"status"}, &out), 1) << out;  // meta answered (pairs: cli_test)
  EXPECT_NE(out.find("clients: 2"), std::string::npos) << "the dead client is still listed: " << out;
  ExpectFsckClean();
}

// An unmount ends the session at once: its opens and locks go with it.
TEST_F(SessionTest, AnUnmountEndsTheSessionAtOnce) {
  const std::string mnt4 = cluster_->state_dir() + "/mnt4";
  ASSERT_OK(cluster_->MountAt(mnt4, "client4"));
  std::string out;
  ASSERT_LE(cluster_->Cli({"status"}, &out), 1) << out;  // meta answered (pairs: cli_test)
  EXPECT_NE(out.find("clients: 3"), std::string::npos) << out;
  EXPECT_NE(out.find(mnt4 + "  pid"), std::string::npos) << out;
  ASSERT_OK(cluster_->UnmountAt(mnt4, "client4"));
  ASSERT_LE(cluster_->Cli({"status"}, &out), 1) << out;  // meta answered (pairs: cli_test)
  EXPECT_NE(out.find("clients: 2"), std::string::npos) << out;
  EXPECT_EQ(out.find(mnt4 + "  pid"), std::string::npos) << out;
}

// Locks are reclaimed after a meta restart, before anyone else gets them.
TEST_F(SessionTest, AfterAMetaRestartTheHolderKeepsItsLockAndTheWaiterStillWaits) {
  ASSERT_OK(WriteFile(A("lock"), "x"));
  int a = open(A("lock").c_str(), O_RDWR);
  ASSERT_SYS(SetLock(a, F_WRLCK, 0, 0, F_SETLK));
  ASSERT_SYS(flock(a, LOCK_EX));
  int rfd[2];
  ASSERT_SYS(pipe(rfd));
  pid_t p = Child([this, rfd] {
    int b = open(B("lock").c_str(), O_RDWR);
    if (SetLock(b, F_WRLCK, 0, 0, F_SETLKW) != 0) return 70;
    char c = 'g';
    return write(rfd[1], &c, 1) == 1 ? 0 : 71;
  });
  std::this_thread::sleep_for(500ms);
  cluster_->Kill("meta");
  ASSERT_OK(cluster_->StartDaemon("meta"));
  // Long enough for the clients to come back and the grace period to end.
  std::this_thread::sleep_for(2500ms);
  fcntl(rfd[0], F_SETFL, O_NONBLOCK);
  char c;
  EXPECT_EQ(read(rfd[0], &c, 1), -1) << "the waiter got the lock A still holds";
  // A's flock came back too: another process on B cannot take it.
  pid_t f = Child([this] {
    int b = open(B("lock").c_str(), O_RDWR);
    return flock(b, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK ? 0 : 72;
  });
  EXPECT_EQ(Reap(f), 0) << "A's flock was not reclaimed";
  ASSERT_SYS(SetLock(a, F_UNLCK, 0, 0, F_SETLK));
  EXPECT_EQ(Reap(p), 0);
  close(a);
  close(rfd[0]);
  close(rfd[1]);
}

}  // namespace
}  // namespace scalefs::test
