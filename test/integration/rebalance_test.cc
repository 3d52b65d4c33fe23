// scalefs rebalance, pair drain and pair remove through real daemons and a
// real mount: extents move onto a new pair while a writer appends to and
// rewrites files (opening and closing them) and a reader checks others;
// every file keeps its bytes, both members of every extent's pair hold the
// same bytes throughout, interruptions (the command, meta, a target member
// killed) lose nothing, and bad input changes nothing.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr uint64_t kMiB = 1 << 20;

// Files written once with a seeded pattern: path -> (seed, size).
struct PatternFile {
  std::string path;
  uint64_t seed;
  uint64_t size;
};

class RebalanceTest : public ::testing::Test {
 protected:
  void StartCluster(int pairs, int registered, uint64_t device_size) {
    ClusterOptions o;
    o.pairs = pairs;
    o.registered_pairs = registered;
    o.device_size = device_size;
    cluster_ = std::make_unique<Cluster>(o);
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    meta_ = cluster_->MetaStub("admin");
  }

  // Files of 4 KiB to max_size until `bytes` are written, most of them small.
  std::vector<PatternFile> Fill(const std::string& dir, uint64_t bytes, uint64_t max_size,
                                uint64_t seed) {
    fs::create_directories(dir);
    std::mt19937_64 rng(seed);
    std::vector<PatternFile> files;
    uint64_t total = 0;
    for (int i = 0; total < bytes; i++) {
      uint64_t size;
      const int kind = static_cast<int>(rng() % 10);
      if (kind < 5) {
        size = 4096 + rng() % (256 << 10);
      } else if (kind < 8) {
        size = kMiB + rng() % (4 * kMiB);
      } else {
        size = 4 * kMiB + rng() % (max_size - 4 * kMiB);
      }
      size = std::min(size, bytes - total + 4096);
      PatternFile f{dir + "/f" + std::to_string(i), seed * 100000 + i, size};
      Status s = WritePatternFile(f.path, f.seed, f.size);
      EXPECT_TRUE(s.ok()) << f.path << ": " << s.ToString();
      if (!s.ok()) break;
      files.push_back(f);
      total += RoundUpBlock(size);
    }
    return files;
  }
  static uint64_t RoundUpBlock(uint64_t n) { return (n + 4095) / 4096 * 4096; }

  std::vector<meta::Pair> Pairs() {
    grpc::ClientContext ctx;
    meta::PairListReply rep;
    grpc::Status s = meta_->PairList(&ctx, meta::Empty(), &rep);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {rep.pairs().begin(), rep.pairs().end()};
  }

  // Every pair's used fraction within 5 points of the mean.
  void ExpectBalanced() {
    std::vector<meta::Pair> pairs = Pairs();
    uint64_t used = 0, cap = 0;
    for (const meta::Pair& p : pairs) {
      used += p.capacity() - p.free();
      cap += p.capacity();
    }
    const double mean = static_cast<double>(used) / static_cast<double>(cap);
    for (const meta::Pair& p : pairs) {
      const double f = static_cast<double>(p.capacity() - p.free()) / static_cast<double>(p.capacity());
      EXPECT_LE(std::fabs(f - mean), 0.05)
          << p.name() << " is " << f * 100 << "% used, the mean is " << mean * 100 << "%";
    }
  }

  meta::FsckReply Fsck() {
    grpc::ClientContext ctx;
    meta::FsckReply rep;
    grpc::Status s = meta_->Fsck(&ctx, meta::Empty(), &rep);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return rep;
  }

  // Abandoned moves hold their target space 30 s: wait until meta freed it.
  void WaitNoMoves() {
    for (int i = 0; i < 400 && Fsck().moves() != 0; i++) std::this_thread::sleep_for(100ms);
    EXPECT_EQ(Fsck().moves(), 0u);
  }

  int HarnessPair(uint32_t id) {
    for (const meta::Pair& p : Pairs()) {
      if (p.id() != id) continue;
      for (int i = 0; i < 3; i++) {
        if (cluster_->MemberAddress(i, 0) == p.address_a()) return i;
      }
    }
    return -1;
  }

  Result<std::string> ReadMember(int pair, int member, uint64_t offset, uint64_t length) {
    std::string out;
    auto stub = cluster_->ChunkStub(pair, member, "admin");
    for (uint64_t done = 0; done < length; done += kMiB) {
      chunk::ReadRequest req;
      req.set_offset(offset + done);
      req.set_length(std::min(kMiB, length - done));
      chunk::ReadReply rep;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 10s);
      grpc::Status s = stub->Read(&ctx, req, &rep);
      if (!s.ok()) return Status::IoError("read of " + Cluster::MemberName(pair, member) + ": " + s.error_message());
      out += rep.data();
    }
    return out;
  }

  // Every written extent of the files, as meta maps it now: both members of
  // its pair hold the same bytes, and (when the map still is the same after
  // the read) the file's bytes. Returns the problems found.
  std::vector<std::string> CheckReplicas(const std::vector<PatternFile>& files) {
    std::vector<std::string> problems;
    std::map<uint32_t, int> harness_pair;
    for (const meta::Pair& p : Pairs()) harness_pair[p.id()] = HarnessPair(p.id());
    for (const PatternFile& f : files) {
      struct stat st;
      if (stat(f.path.c_str(), &st) != 0) {
        problems.push_back(f.path + ": stat failed");
        continue;
      }
      auto extents = [&] {
        grpc::ClientContext ctx;
        meta::ExtentsRequest req;
        req.set_ino(st.st_ino);
        meta::ExtentsReply rep;
        grpc::Status s = meta_->GetExtents(&ctx, req, &rep);
        EXPECT_TRUE(s.ok()) << s.error_message();
        return rep;
      };
      const meta::ExtentsReply before = extents();
      for (const meta::Extent& e : before.extents()) {
        if (!e.written() || e.file_offset() >= f.size) continue;
        const int pair = harness_pair.count(e.pair()) ? harness_pair[e.pair()] : -1;
        if (pair < 0) {
          problems.push_back(f.path + ": extent on unknown pair " + std::to_string(e.pair()));
          continue;
        }
        auto a = ReadMember(pair, 0, e.dev_offset(), e.length());
        auto b = ReadMember(pair, 1, e.dev_offset(), e.length());
        if (!a.ok() || !b.ok()) {
          problems.push_back(f.path + ": " + (a.ok() ? b.status() : a.status()).ToString());
          continue;
        }
        if (*a != *b) {
          problems.push_back(f.path + " offset " + std::to_string(e.file_offset()) +
                             ": the members of pair " + std::to_string(e.pair()) + " differ");
          continue;
        }
        const uint64_t n = std::min<uint64_t>(e.length(), f.size - e.file_offset());
        const meta::ExtentsReply after = extents();
        bool same = after.extents_size() == before.extents_size();
        for (int i = 0; same && i < after.extents_size(); i++) {
          same = after.extents(i).SerializeAsString() == before.extents(i).SerializeAsString();
        }
        if (same && a->substr(0, n) != PatternBytes(f.seed, e.file_offset(), n)) {
          problems.push_back(f.path + " offset " + std::to_string(e.file_offset()) +
                             ": the extent's bytes are not the file's");
        }
      }
    }
    return problems;
  }

  void ExpectFilesIntact(const std::vector<PatternFile>& files) {
    for (const PatternFile& f : files) EXPECT_OK(CheckPatternFile(f.path, f.seed, f.size)) << f.path;
  }

  void ExpectClean() {
    std::string out;
    EXPECT_EQ(cluster_->Cli({"fsck"}, &out), 0) << out;
    EXPECT_EQ(cluster_->Cli({"verify"}, &out), 0) << out;
  }

  // Files a writer appends to and rewrites in place, each opened and closed
  // per change; their expected bytes in memory.
  struct Writer {
    std::vector<std::string> paths;
    std::map<std::string, std::string> model;
    std::atomic<bool> stop{false};
    std::atomic<int> errors{0};
    std::atomic<int> changes{0};
    std::thread thread;

    void Start(const std::string& dir, int n, bool new_files) {
      fs::create_directories(dir);
      for (int i = 0; i < n; i++) {
        const std::string p = dir + "/w" + std::to_string(i);
        std::string data = PatternBytes(7000 + i, 0, (i + 1) * 200 * 1024);
        if (!WriteFile(p, data).ok()) errors++;
        paths.push_back(p);
        model[p] = std::move(data);
      }
      thread = std::thread([this, dir, new_files] {
        std::mt19937_64 rng(99);
        int made = 0;
        while (!stop) {
          // As an appender does: a while on one file, then the next. A file
          // the mount reopens within a second of its close never looks
          // closed to meta (the release waits a second), and a file open
          // all the time is never moved (meta/rebalance_ops.cc).
          const std::string& p = paths[(changes / 25) % paths.size()];
          std::string& m = model[p];
          const int op = static_cast<int>(rng() % 3);
          std::string data = PatternBytes(rng(), 0, 4096 + rng() % (256 << 10));
          if (op == 0 && m.size() < 8 * kMiB) {  // append
            int fd = open(p.c_str(), O_WRONLY | O_APPEND);
            if (fd < 0 || write(fd, data.data(), data.size()) != ssize_t(data.size())) errors++;
            if (fd >= 0 && close(fd) != 0) errors++;
            m += data;
          } else if (op == 1) {  // rewrite in place
            const uint64_t off = rng() % m.size();
            data.resize(std::min<uint64_t>(data.size(), m.size() - off));
            int fd = open(p.c_str(), O_WRONLY);
            if (fd < 0 || pwrite(fd, data.data(), data.size(), off) != ssize_t(data.size())) errors++;
            if (fd >= 0 && close(fd) != 0) errors++;
            m.replace(off, data.size(), data);
          } else if (new_files && made < 40) {  // a new file
            const std::string np = dir + "/n" + std::to_string(made++);
            if (!WriteFile(np, data).ok()) errors++;
            model[np] = data;
          }
          changes++;
          std::this_thread::sleep_for(20ms);
        }
      });
    }
    void Stop() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
    void ExpectIntact() {
      for (const auto& [p, m] : model) {
        Result<std::string> r = ReadFile(p);
        ASSERT_TRUE(r.ok()) << p << ": " << r.status().ToString();
        EXPECT_TRUE(*r == m) << p << ": " << r->size() << " bytes read, " << m.size() << " expected";
      }
    }
  };

  // `scalefs ARGS` in the background; its output in `log`.
  pid_t CliInBackground(const std::vector<std::string>& args, const std::string& log) {
    std::string cmd = "exec " + std::string(SCALEFS_BIN_DIR) + "/scalefs --meta=" +
                      cluster_->meta_address();
    for (const auto& a : args) cmd += " '" + a + "'";
    std::string out;
    RunShell("(" + cmd + ") > " + log + " 2>&1 & echo $!", &out);
    return static_cast<pid_t>(std::stol(out));
  }
  static bool Alive(pid_t pid) {
    // The shell that started it did not wait for it: reap it here if it ended.
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    return kill(pid, 0) == 0;
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<meta::Meta::Stub> meta_;
};

// Two full pairs, a third added, rebalance under a writer and a reader.
TEST_F(RebalanceTest, NewPairTakesItsShareWhileFilesAreWrittenAndRead) {
  StartCluster(3, 2, 256 * kMiB);
  const std::string mnt = cluster_->mnt();
  const std::vector<PatternFile> files = Fill(mnt + "/data", 330 * kMiB, 32 * kMiB, 1);
  ASSERT_FALSE(HasFailure());
  std::string out;
  ASSERT_EQ(cluster_->Cli({"pair", "add", "pair2", cluster_->MemberAddress(2, 0),
                           cluster_->MemberAddress(2, 1)}, &out), 0) << out;
  ASSERT_EQ(cluster_->Cli({"rebalance", "--dry-run"}, &out), 0) << out;
  EXPECT_NE(out.find("not balanced"), std::string::npos) << out;

  // The reader checks the first half of the files, the replica checker the
  // second; the writer has files of its own.
  const std::vector<PatternFile> read_set(files.begin(), files.begin() + files.size() / 2);
  const std::vector<PatternFile> check_set(files.begin() + files.size() / 2, files.end());
  Writer writer;
  writer.Start(mnt + "/busy", 6, false);
  std::atomic<bool> done{false};
  std::atomic<int> read_errors{0}, reads{0}, rounds{0};
  std::mutex mu;
  std::vector<std::string> replica_problems;
  std::thread reader([&] {
    while (!done) {
      for (const PatternFile& f : read_set) {
        if (done) break;
        Status s = CheckPatternFile(f.path, f.seed, f.size);
        if (!s.ok()) {
          read_errors++;
          ADD_FAILURE() << f.path << ": " << s.ToString();
        }
        reads++;
      }
    }
  });
  // Each round checks the next files of the set, about 16 MiB of them.
  std::thread checker([&] {
    size_t next = 0;
    while (!done) {
      std::vector<PatternFile> round;
      for (uint64_t bytes = 0; bytes < 16 * kMiB; next = (next + 1) % check_set.size()) {
        round.push_back(check_set[next]);
        bytes += check_set[next].size;
      }
      std::vector<std::string> p = CheckReplicas(round);
      if (done) break;  // a round cut short by the end does not count
      std::lock_guard l(mu);
      replica_problems.insert(replica_problems.end(), p.begin(), p.end());
      rounds++;
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = cluster_->Cli({"rebalance", "--rate", "40M"}, &out);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  done = true;
  reader.join();
  checker.join();
  writer.Stop();
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("rebalance done"), std::string::npos) << out;
  {
    // The last progress line (moves abandoned) and the summary.
    size_t last = out.rfind("moved ");
    std::cout << "rebalance took " << secs << " s; " << rounds << " replica rounds, " << reads
              << " file reads, " << writer.changes << " writer changes during it\n"
              << (last == std::string::npos ? out : out.substr(out.rfind('\n', last) + 1));
  }
  EXPECT_GE(rounds.load(), 2) << "the replicas were checked too few times during the move";
  EXPECT_EQ(read_errors.load(), 0);
  EXPECT_EQ(writer.errors.load(), 0);
  EXPECT_TRUE(replica_problems.empty()) << replica_problems.size() << " problems, first: "
                                        << (replica_problems.empty() ? "" : replica_problems[0]);
  // The writer's changes during the run and the space of the moves it
  // cancelled (freed 30 s after) move the balance on after the run's last
  // look: a second run, with nothing else writing, evens that out.
  WaitNoMoves();
  EXPECT_EQ(cluster_->Cli({"rebalance"}, &out), 0) << out;
  std::cout << "second run: " << out.substr(out.rfind('\n', out.size() - 2) + 1);
  WaitNoMoves();
  ExpectBalanced();
  for (const meta::Pair& p : Pairs()) {
    if (p.name() == "pair2") EXPECT_GT(p.capacity() - p.free(), 64 * kMiB);
  }
  ExpectFilesIntact(files);
  writer.ExpectIntact();
  EXPECT_TRUE(CheckReplicas(files).empty());
  ExpectClean();
  EXPECT_EQ(cluster_->Cli({"status"}, &out), 0) << out;
  EXPECT_NE(out.find("rebalance: not running, moved"), std::string::npos) << out;
}

// The command killed, then meta, then a target member: run again, the same
// end state and nothing lost.
TEST_F(RebalanceTest, InterruptedRebalanceLosesNothingAndFinishesWhenRunAgain) {
  StartCluster(3, 2, 256 * kMiB);
  const std::vector<PatternFile> files = Fill(cluster_->mnt() + "/data", 300 * kMiB, 24 * kMiB, 2);
  ASSERT_FALSE(HasFailure());
  std::string out;
  ASSERT_EQ(cluster_->Cli({"pair", "add", "pair2", cluster_->MemberAddress(2, 0),
                           cluster_->MemberAddress(2, 1)}, &out), 0) << out;
  // Each interruption comes while the run is moving: it reported bytes moved.
  auto wait_moved = [&](uint64_t more_than) {
    for (int i = 0; i < 300; i++) {
      grpc::ClientContext ctx;
      meta::RebalanceProgress p;
      if (meta_->RebalanceStatus(&ctx, meta::Empty(), &p).ok() && p.running() &&
          p.bytes_moved() > more_than)
        return p.bytes_moved();
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "the run reported no progress past " << more_than;
    return more_than;
  };
  // --stop: a running rebalance ends after its current file.
  const std::string log0 = cluster_->state_dir() + "/rebalance0.out";
  pid_t pid0 = CliInBackground({"rebalance", "--rate", "5M"}, log0);
  wait_moved(0);
  EXPECT_EQ(cluster_->Cli({"rebalance", "--stop"}, &out), 0) << out;
  EXPECT_NE(out.find("asked the running rebalance to stop"), std::string::npos) << out;
  for (int i = 0; i < 150 && Alive(pid0); i++) std::this_thread::sleep_for(100ms);
  RunShell("cat " + log0, &out);
  ASSERT_FALSE(Alive(pid0)) << "rebalance --stop did not stop it: " << out;
  EXPECT_NE(out.find("rebalance stopped at request"), std::string::npos) << out;
  EXPECT_EQ(cluster_->Cli({"rebalance", "--stop"}, &out), 0) << out;
  EXPECT_NE(out.find("no rebalance is running"), std::string::npos) << out;

  const std::string log1 = cluster_->state_dir() + "/rebalance1.out";
  pid_t pid = CliInBackground({"rebalance", "--rate", "10M"}, log1);
  std::this_thread::sleep_for(3s);
  ASSERT_TRUE(Alive(pid)) << RunShell("cat " + log1, &out) << out;
  kill(pid, SIGKILL);
  while (Alive(pid)) std::this_thread::sleep_for(10ms);
  // A move the command left half done is meta's to abandon: fsck is clean.
  EXPECT_EQ(cluster_->Cli({"fsck"}, &out), 0) << out;
  ExpectFilesIntact(files);

  const std::string log2 = cluster_->state_dir() + "/rebalance2.out";
  pid = CliInBackground({"rebalance", "--rate", "10M"}, log2);
  wait_moved(0);
  ASSERT_TRUE(Alive(pid));
  cluster_->Kill("meta");
  ASSERT_OK(cluster_->StartDaemon("meta"));
  // Meta forgot the progress: the run reports it again once it moves again.
  wait_moved(0);
  ASSERT_TRUE(Alive(pid)) << RunShell("cat " + log2, &out) << out;
  // A member of the target pair: copies onto it cannot be verified on both
  // members, so none is switched until it is back.
  const std::string target = Cluster::MemberName(2, 0);
  cluster_->Kill(target);
  std::this_thread::sleep_for(4s);
  ASSERT_OK(cluster_->StartDaemon(target));
  for (int i = 0; i < 1200 && Alive(pid); i++) std::this_thread::sleep_for(100ms);
  RunShell("cat " + log2, &out);
  ASSERT_FALSE(Alive(pid)) << "rebalance did not finish: " << out;
  std::cout << "the second run, across a meta restart and a target member down 4 s:\n"
            << out.substr(out.size() > 600 ? out.size() - 600 : 0);
  EXPECT_NE(out.find("rebalance done"), std::string::npos) << out;
  ExpectFilesIntact(files);
  // What the interrupted runs abandoned comes back; a last run evens out what
  // that changed.
  WaitNoMoves();
  EXPECT_EQ(cluster_->Cli({"rebalance"}, &out), 0) << out;
  WaitNoMoves();
  ExpectBalanced();
  ExpectFilesIntact(files);
  EXPECT_TRUE(CheckReplicas(files).empty());
  // The restarted member resyncs before verify can pass.
  for (int i = 0; i < 300 && cluster_->Cli({"verify"}, &out) != 0; i++) std::this_thread::sleep_for(100ms);
  ExpectClean();
}

// A pair holding data, one of its members down, drained while a writer
// runs, then removed.
TEST_F(RebalanceTest, DrainedPairIsRemovedAndDfShrinks) {
  StartCluster(3, 3, 128 * kMiB);
  const std::string mnt = cluster_->mnt();
  const std::vector<PatternFile> files = Fill(mnt + "/data", 150 * kMiB, 16 * kMiB, 3);
  ASSERT_FALSE(HasFailure());
  uint64_t on_pair1 = 0;
  for (const meta::Pair& p : Pairs()) {
    if (p.name() == "pair1") on_pair1 = p.capacity() - p.free();
  }
  ASSERT_GT(on_pair1, 30 * kMiB);
  // A member of the drained pair is down: the drain reads from the other.
  cluster_->Kill(Cluster::MemberName(1, 1));
  Writer writer;
  writer.Start(mnt + "/busy", 4, true);
  std::string out;
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = cluster_->Cli({"pair", "drain", "pair1"}, &out);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  writer.Stop();
  std::cout << "drain of " << on_pair1 / kMiB << " MiB took " << secs << " s, " << writer.changes
            << " writer changes during it\n" << out;
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("pair pair1 is empty"), std::string::npos) << out;
  for (const meta::Pair& p : Pairs()) {
    if (p.name() == "pair1") EXPECT_EQ(p.free(), p.capacity());
  }
  struct statvfs before, after;
  ASSERT_EQ(statvfs(mnt.c_str(), &before), 0);
  ASSERT_EQ(cluster_->Cli({"pair", "remove", "pair1"}, &out), 0) << out;
  ASSERT_EQ(statvfs(mnt.c_str(), &after), 0);
  EXPECT_EQ(uint64_t(before.f_blocks) * before.f_frsize - uint64_t(after.f_blocks) * after.f_frsize,
            128 * kMiB);
  ASSERT_EQ(cluster_->Cli({"pair", "list"}, &out), 0) << out;
  EXPECT_EQ(out.find("pair1"), std::string::npos) << out;
  ExpectFilesIntact(files);
  writer.ExpectIntact();
  EXPECT_EQ(writer.errors.load(), 0);
  // The filesystem goes on on the other two.
  ASSERT_OK(WritePatternFile(mnt + "/after", 5, 8 * kMiB));
  EXPECT_OK(CheckPatternFile(mnt + "/after", 5, 8 * kMiB));
  for (const auto& [p, m] : writer.model) {
    if (p.find("/busy/w") != std::string::npos) {
      int fd = open(p.c_str(), O_WRONLY | O_APPEND);
      ASSERT_GE(fd, 0) << p;
      EXPECT_EQ(write(fd, "x", 1), 1) << p << ": a file laid out on the removed pair grows";
      close(fd);
    }
  }
  WaitNoMoves();
  ExpectClean();
}

// Bad input: a gRPC error with a message, a usage or error from the CLI,
// and nothing changed.
TEST_F(RebalanceTest, BadInputIsRefusedAndChangesNothing) {
  StartCluster(3, 3, 64 * kMiB);
  const std::string mnt = cluster_->mnt();
  ASSERT_OK(WritePatternFile(mnt + "/f", 1, 12 * kMiB));
  std::string out;
  EXPECT_EQ(cluster_->Cli({"pair", "drain"}, &out), 2) << out;
  EXPECT_EQ(cluster_->Cli({"pair", "remove", "a", "b"}, &out), 2) << out;
  EXPECT_EQ(cluster_->Cli({"rebalance", "--bogus"}, &out), 2) << out;
  EXPECT_EQ(cluster_->Cli({"rebalance", "--rate", "fast"}, &out), 2) << out;
  EXPECT_EQ(cluster_->Cli({"rebalance", "--help"}, &out), 0) << out;
  EXPECT_NE(out.find("--rate N"), std::string::npos) << out;
  EXPECT_EQ(cluster_->Cli({"pair", "drain", "ghost"}, &out), 1) << out;
  EXPECT_NE(out.find("no pair named 'ghost'"), std::string::npos) << out;
  EXPECT_EQ(cluster_->Cli({"pair", "remove", "ghost"}, &out), 1) << out;
  EXPECT_NE(out.find("no pair named 'ghost'"), std::string::npos) << out;
  EXPECT_EQ(cluster_->Cli({"pair", "remove", "pair0"}, &out), 1) << out;
  EXPECT_NE(out.find("still holds"), std::string::npos) << out;
  EXPECT_EQ(Pairs().size(), 3u);
  for (const meta::Pair& p : Pairs()) EXPECT_FALSE(p.draining()) << p.name();

  // Through meta's API: status codes with messages.
  {
    grpc::ClientContext ctx;
    meta::PairNameRequest req;
    req.set_name("ghost");
    meta::Pair rep;
    grpc::Status s = meta_->PairDrain(&ctx, req, &rep);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  }
  {
    auto client = cluster_->MetaStub("client");
    grpc::ClientContext ctx;
    meta::MoveBeginRequest req;
    req.set_from_pair(1);
    req.set_to_pair(2);
    meta::MoveBeginReply rep;
    EXPECT_EQ(client->MoveBegin(&ctx, req, &rep).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }

  fs::create_directories(mnt + "/d");
  ASSERT_EQ(cluster_->Cli({"layout", "get", mnt + "/d"}, &out), 0) << out;
  const std::string layout_before = out;
  ASSERT_EQ(cluster_->Cli({"pair", "drain", "pair2"}, &out), 0) << out;
  EXPECT_EQ(cluster_->Cli({"pair", "drain", "pair2"}, &out), 1) << out;
  EXPECT_NE(out.find("already draining"), std::string::npos) << out;
  EXPECT_NE(cluster_->Cli({"layout", "set", mnt + "/d", "--pairs", "pair2"}, &out), 0) << out;
  ASSERT_EQ(cluster_->Cli({"layout", "get", mnt + "/d"}, &out), 0) << out;
  EXPECT_EQ(out, layout_before);
  {
    grpc::ClientContext ctx;
    meta::MoveBeginRequest req;
    req.set_from_pair(1);
    req.set_to_pair(3);  // pair2, draining
    meta::MoveBeginReply rep;
    grpc::Status s = meta_->MoveBegin(&ctx, req, &rep);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_NE(s.error_message().find("draining"), std::string::npos) << s.error_message();
  }
  // The last pair that takes data cannot drain.
  ASSERT_EQ(cluster_->Cli({"pair", "drain", "pair1"}, &out), 0) << out;
  EXPECT_EQ(cluster_->Cli({"pair", "drain", "pair0"}, &out), 1) << out;
  EXPECT_NE(out.find("last pair"), std::string::npos) << out;
  // New files go where they may.
  ASSERT_OK(WritePatternFile(mnt + "/d/g", 2, 3 * kMiB));
  for (const meta::Pair& p : Pairs()) {
    if (p.name() != "pair0") EXPECT_EQ(p.free(), p.capacity()) << p.name();
  }
  EXPECT_OK(CheckPatternFile(mnt + "/f", 1, 12 * kMiB));
  EXPECT_OK(CheckPatternFile(mnt + "/d/g", 2, 3 * kMiB));
  ExpectClean();
}

}  // namespace
}  // namespace scalefs::test
