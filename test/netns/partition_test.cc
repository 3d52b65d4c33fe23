// Real network partitions on the namespace cluster (deploy/netns): links cut
// with nftables inside the namespaces while both clients keep writing. Runs
// inside client0's network namespace (test/netns/in_netns.sh starts the
// cluster and this binary there), so it reaches meta and every member as a
// client host would, and cuts links with `deploy/netns cut`.
//
// In every case: no acknowledged write is lost (each writer keeps the files
// it was told were written and they read back the same through both mounts
// afterwards); a file written and closed on one client reads back new on the
// other (close-to-open, never stale); never two members of a pair write
// alone, and the one that lost refuses a write with its documented error;
// after healing, the pair resyncs only what changed, and `scalefs verify` and
// `scalefs fsck` are clean.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/rpc_channel.h"
#include "common/rpc_security.h"
#include "proto/chunk.grpc.pb.h"
#include "proto/meta.grpc.pb.h"
#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

using namespace std::chrono_literals;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string State() { return Env("SCALEFS_STATE"); }
std::string Mount(int client) {
  return client == 0 ? Env("SCALEFS_MNT") : Env("SCALEFS_MNT") + "-" + std::to_string(client);
}

// `deploy/netns ARGS`; its exit status.
int Netns(const std::string& args, std::string* out = nullptr) {
  std::string o;
  const int rc = RunShell(Env("SCALEFS_SOURCE_DIR") + "/deploy/netns " + args, &o);
  if (out != nullptr) *out = o;
  return rc;
}
std::string AddrOf(const std::string& node) {
  std::string out;
  EXPECT_EQ(Netns("addr " + node, &out), 0) << out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// `scalefs ARGS` as the admin, from this namespace.
int Scalefs(const std::string& args, std::string* out) {
  return RunShell(std::string(SCALEFS_BIN_DIR) + "/scalefs " + args, out);
}

std::shared_ptr<grpc::ChannelCredentials> Credentials(const TlsFiles& files) {
  auto c = TlsChannelCredentials(files);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : nullptr;
}

TlsFiles Admin() {
  return {State() + "/tls/ca.crt", State() + "/tls/admin.crt", State() + "/tls/admin.key"};
}
TlsFiles Client() {
  return {State() + "/tls/ca.crt", State() + "/tls/client0.crt", State() + "/tls/client0.key"};
}

// The members of pair k as (name, address).
struct Member {
  std::string name;
  std::string address;
};

class PartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(State().empty()) << "run through test/netns/in_netns.sh";
    const int base = std::atoi(Env("SCALEFS_PORT_BASE").c_str());
    for (const char* m : {"pair0a", "pair0b", "pair1a", "pair1b"}) {
      // deploy/lib.sh's cluster_member_port.
      const int port = base + 1 + 2 * (m[4] - '0') + (m[5] == 'b' ? 1 : 0);
      members_[m] = AddrOf(m) + ":" + std::to_string(port);
    }
    meta_ = meta::Meta::NewStub(NewChannel(AddrOf("meta") + ":" + Env("SCALEFS_PORT_BASE"),
                                           Role::kMeta, Credentials(Admin())));
    WaitConverged();
  }
  void TearDown() override {
    StopWriters();
    Netns("heal");
    WaitConverged();
  }

  chunk::InfoReply Info(const std::string& member) {
    auto stub = chunk::Chunk::NewStub(
        NewChannel(members_[member], Role::kMember, Credentials(Admin())));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    chunk::InfoReply rep;
    grpc::Status s = stub->Info(&ctx, chunk::InfoRequest(), &rep);
    if (!s.ok()) rep.set_connection_state("unreachable: " + s.error_message());
    return rep;
  }

  // A client's write straight at a member, at the device's last block (never
  // allocated in these runs): the answer, not the bytes, is what counts.
  grpc::Status RawWrite(const std::string& member, char fill = 'x') {
    const uint64_t device_size = Info(member).device_size();
    auto stub = chunk::Chunk::NewStub(
        NewChannel(members_[member], Role::kMember, Credentials(Client())));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    chunk::WriteRequest req;
    req.set_offset(device_size - 4096);
    req.set_data(std::string(4096, fill));
    chunk::WriteReply rep;
    return stub->Write(&ctx, req, &rep);
  }

  // A client's read straight from a member, of the block RawWrite writes.
  grpc::Status RawRead(const std::string& member, std::string* out) {
    const uint64_t device_size = Info(member).device_size();
    auto stub = chunk::Chunk::NewStub(
        NewChannel(members_[member], Role::kMember, Credentials(Client())));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    chunk::ReadRequest req;
    req.set_offset(device_size - 4096);
    req.set_length(4096);
    chunk::ReadReply rep;
    grpc::Status s = stub->Read(&ctx, req, &rep);
    *out = rep.data();
    return s;
  }

  bool Converged() {
    for (const auto& [name, addr] : members_) {
      chunk::InfoReply i = Info(name);
      if (i.connection_state() != "Connected" || i.disk_state() != "UpToDate" ||
          i.peer_disk_state() != "UpToDate" || i.out_of_sync_bytes() != 0 || i.solo()) {
        return false;
      }
    }
    return true;
  }
  void WaitConverged() {
    const auto until = std::chrono::steady_clock::now() + 90s;
    while (!Converged() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(250ms);
    ASSERT_TRUE(Converged()) << "the pairs did not come back to Connected/UpToDate in 90 s";
  }

  // Never two members of a pair writing alone: sampled every 100 ms while `fn` runs.
  void WatchSplitBrain(std::atomic<bool>* stop) {
    while (!stop->load()) {
      for (const char* k : {"pair0", "pair1"}) {
        const bool a = Info(std::string(k) + "a").solo(), b = Info(std::string(k) + "b").solo();
        if (a && b) split_brain_ = true;
      }
      std::this_thread::sleep_for(100ms);
    }
  }

  // Writers: each client writes whole files (write, fsync, close) of 4 KiB to
  // 1 MiB, and rewrites a file the other client made, then the other client
  // reads it: what was acknowledged must read back new at once.
  void StartWriters() {
    stop_writers_ = false;
    for (int c = 0; c < 2; ++c) {
      writers_.emplace_back([this, c] {
        uint64_t n = 0;
        while (!stop_writers_) {
          const uint64_t seed = (uint64_t(c) << 40) | (++round_ << 16) | n;
          const uint64_t size = 4096 + (seed * 2654435761u) % (1u << 20);
          const std::string name = "w" + std::to_string(c) + "-" + std::to_string(n++);
          if (WritePatternFile(Mount(c) + "/" + name, seed, size).ok()) {
            written_bytes_ += size;
            Status fresh = CheckPatternFile(Mount(1 - c) + "/" + name, seed, size);
            if (!fresh.ok()) AddProblem("read of " + name + " on client " + std::to_string(1 - c) +
                                        " after it was written on client " + std::to_string(c) +
                                        ": " + fresh.ToString());
            std::lock_guard l(mu_);
            acked_[name] = {seed, size};
          } else {
            std::lock_guard l(mu_);
            acked_.erase(name);  // whatever it holds now, nobody was told it was written
            failed_writes_++;
          }
        }
      });
    }
  }
  void StopWriters() {
    stop_writers_ = true;
    for (auto& t : writers_) t.join();
    writers_.clear();
  }
  void AddProblem(const std::string& p) {
    std::lock_guard l(mu_);
    problems_.push_back(p);
  }

  // Every acknowledged file through both mounts, then verify and fsck.
  void CheckEverything() {
    std::map<std::string, std::pair<uint64_t, uint64_t>> acked;
    {
      std::lock_guard l(mu_);
      acked = acked_;
      for (const std::string& p : problems_) ADD_FAILURE() << p;
    }
    ASSERT_FALSE(acked.empty()) << "no write was acknowledged at all";
    for (const auto& [name, f] : acked) {
      for (int c = 0; c < 2; ++c) {
        Status s = CheckPatternFile(Mount(c) + "/" + name, f.first, f.second);
        EXPECT_TRUE(s.ok()) << "acknowledged " << name << " on client " << c << ": " << s.ToString();
      }
    }
    std::string out;
    EXPECT_EQ(Scalefs("verify", &out), 0) << out;
    EXPECT_EQ(Scalefs("fsck", &out), 0) << out;
    EXPECT_FALSE(split_brain_) << "two members of a pair held the grant to write alone at once";
  }

  std::map<std::string, std::string> members_;
  std::unique_ptr<meta::Meta::Stub> meta_;
  std::vector<std::thread> writers_;
  std::atomic<bool> stop_writers_{false};
  std::atomic<uint64_t> round_{0};
  std::atomic<uint64_t> written_bytes_{0};
  std::atomic<bool> split_brain_{false};
  std::mutex mu_;
  std::map<std::string, std::pair<uint64_t, uint64_t>> acked_;
  std::vector<std::string> problems_;
  int failed_writes_ = 0;
};

// (a) The replication link of pair0 breaks; both members still reach meta
// and both clients. Meta grants one of them the right to write alone; the
// other refuses; the clients carry on through the winner.
TEST_F(PartitionTest, ReplicationLinkCutWhileBothMembersReachEveryoneElse) {
  std::atomic<bool> stop{false};
  std::thread watch([&] { WatchSplitBrain(&stop); });
  StartWriters();
  std::this_thread::sleep_for(2s);
  ASSERT_EQ(Netns("cut pair0a pair0b"), 0);
  const uint64_t before_cut = written_bytes_;
  std::this_thread::sleep_for(10s);
  const chunk::InfoReply a = Info("pair0a"), b = Info("pair0b");
  ASSERT_NE(a.solo(), b.solo()) << "exactly one member of pair0 writes alone: a " << a.solo()
                                << " b " << b.solo();
  const std::string winner = a.solo() ? "pair0a" : "pair0b";
  const std::string loser = a.solo() ? "pair0b" : "pair0a";
  grpc::Status refused = RawWrite(loser);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_NE(refused.error_message().find("peer holds the grant"), std::string::npos)
      << refused.error_message();
  EXPECT_EQ(std::atoi(refused.error_details().c_str()), ESTALE);
  StopWriters();
  const uint64_t during_cut = written_bytes_ - before_cut;
  EXPECT_GT(during_cut, 0u) << "the clients wrote nothing while the link was cut";

  // Only what changed goes across: no more than the regions written meanwhile.
  const chunk::InfoReply w = Info(winner);
  const uint64_t resynced_before = w.resynced_bytes_total();
  EXPECT_GT(w.out_of_sync_bytes(), 0u);
  // A file of up to 1 MiB touches at most two 1 MiB regions.
  EXPECT_LE(w.out_of_sync_bytes(), 4 * during_cut + (16u << 20))
      << "out of sync beyond what was written (" << during_cut << " bytes)";
  ASSERT_EQ(Netns("heal"), 0);
  WaitConverged();
  const uint64_t resynced = Info(winner).resynced_bytes_total() - resynced_before;
  EXPECT_GT(resynced, 0u);
  EXPECT_LE(resynced, w.out_of_sync_bytes()) << "resync sent more than the out-of-sync regions";
  stop = true;
  watch.join();
  CheckEverything();
}

// (b) One member cut off from meta and from its peer, not from the clients:
// it cannot get the grant, so it must not write alone; its peer gets it.
TEST_F(PartitionTest, MemberCutFromMetaAndPeerButNotFromClients) {
  std::atomic<bool> stop{false};
  std::thread watch([&] { WatchSplitBrain(&stop); });
  StartWriters();
  std::this_thread::sleep_for(2s);
  // Meta first: cut from its peer first, pair1b would rightly take the grant
  // in the moment it still reached meta (a CI run saw exactly that).
  ASSERT_EQ(Netns("cut pair1b meta"), 0);
  ASSERT_EQ(Netns("cut pair1b pair1a"), 0);
  std::this_thread::sleep_for(10s);
  EXPECT_TRUE(Info("pair1a").solo()) << "the member meta reaches holds the grant";
  grpc::Status refused = RawWrite("pair1b");
  EXPECT_FALSE(refused.ok()) << "a member that reaches neither its peer nor meta took a write";
  const int err = std::atoi(refused.error_details().c_str());
  EXPECT_TRUE(err == ESTALE || err == EAGAIN) << err << ": " << refused.error_message();
  StopWriters();
  ASSERT_EQ(Netns("heal"), 0);
  WaitConverged();
  stop = true;
  watch.join();
  CheckEverything();
}

// (e) The replication link breaks while both members reach meta and the
// clients. The first write the winner acknowledges alone must not read old
// from the loser, which meta and the winner confirmed current until a moment
// before the grant: the loser refuses the read or has the new bytes.
TEST_F(PartitionTest, TheLoserServesNoOldBytesAfterTheWinnersFirstWriteAlone) {
  ASSERT_TRUE(RawWrite("pair0a", 'o').ok());
  ASSERT_EQ(Netns("cut pair0a pair0b"), 0);
  // The write blocks for the peer's deadline, then for the grant.
  grpc::Status w = RawWrite("pair0a", 'n');
  ASSERT_TRUE(w.ok()) << w.error_message();
  std::string got;
  grpc::Status r = RawRead("pair0b", &got);
  if (r.ok()) {
    EXPECT_EQ(got, std::string(4096, 'n')) << "pair0b served the bytes from before the write "
                                              "pair0a acknowledged alone";
  } else {
    EXPECT_TRUE(r.error_code() == grpc::StatusCode::UNAVAILABLE ||
                r.error_code() == grpc::StatusCode::FAILED_PRECONDITION)
        << r.error_code() << ": " << r.error_message();
  }
  EXPECT_TRUE(Info("pair0a").solo());
  ASSERT_EQ(Netns("heal"), 0);
  WaitConverged();
}

// (c) Meta cut off from the member that resyncs its peer, in the middle of
// the resync: the resync needs no meta, and nothing is lost either way.
TEST_F(PartitionTest, MetaCutFromAMemberDuringResync) {
  StartWriters();
  ASSERT_EQ(Netns("cut pair0a pair0b"), 0);
  std::this_thread::sleep_for(8s);
  StopWriters();
  const bool a_won = Info("pair0a").solo();
  const std::string winner = a_won ? "pair0a" : "pair0b";
  ASSERT_GT(Info(winner).out_of_sync_bytes(), 0u);
  ASSERT_EQ(Netns("heal"), 0);
  ASSERT_EQ(Netns("cut meta " + winner), 0);
  StartWriters();  // writes go on through both members while the resync runs
  std::this_thread::sleep_for(6s);
  StopWriters();
  ASSERT_EQ(Netns("heal"), 0);
  WaitConverged();
  CheckEverything();
}

// (d) A lossy replication link, worse one way (30% of what pair0b sends to
// pair0a lost, 5% the other way).
TEST_F(PartitionTest, AsymmetricLossOnTheReplicationLink) {
  std::atomic<bool> stop{false};
  std::thread watch([&] { WatchSplitBrain(&stop); });
  ASSERT_EQ(Netns("loss pair0a pair0b 30"), 0);
  ASSERT_EQ(Netns("loss pair0b pair0a 5"), 0);
  StartWriters();
  std::this_thread::sleep_for(12s);
  StopWriters();
  ASSERT_EQ(Netns("heal"), 0);
  WaitConverged();
  stop = true;
  watch.join();
  CheckEverything();
}

// (d) A slow replication link, slower one way: 200..250 ms on what pair0b
// sends to pair0a (so its packets reorder), 100 ms back (scalefs-netdelay,
// as tc netem's delay and jitter), with 5% lost as well. Writes are slow,
// never lost, and the pair stays one.
TEST_F(PartitionTest, DelaysOnTheReplicationLink) {
  std::atomic<bool> stop{false};
  std::thread watch([&] { WatchSplitBrain(&stop); });
  const std::string log = State() + "/log/netdelay.log";
  unlink(log.c_str());
  ASSERT_EQ(Netns("delay pair0a pair0b 200 50"), 0);
  ASSERT_EQ(Netns("delay pair0b pair0a 100"), 0);
  ASSERT_EQ(Netns("loss pair0b pair0a 5"), 0);
  StartWriters();
  std::this_thread::sleep_for(12s);
  StopWriters();
  ASSERT_EQ(Netns("heal"), 0);
  // The replication traffic went through both delayers (each says so as it ends).
  Result<std::string> read = ReadFile(log);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  const std::string& said = *read;
  EXPECT_NE(said.find("delayed 200 ms (+0..50 ms)"), std::string::npos) << said;
  EXPECT_NE(said.find("delayed 100 ms (+0..0 ms), 0 reordered"), std::string::npos) << said;
  EXPECT_EQ(said.find("(+0..50 ms), 0 reordered"), std::string::npos) << "no reordering\n" << said;
  EXPECT_EQ(said.find(": 0 packets delayed"), std::string::npos) << said;
  WaitConverged();
  stop = true;
  watch.join();
  CheckEverything();
}

}  // namespace
}  // namespace scalefs::test
