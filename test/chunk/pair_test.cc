// Two real members in-process on loopback, joined into a pair.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <barrier>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "chunk/chunk_server.h"
#include "chunk/pair_replicator.h"
#include "common/layout.h"
#include "common/rpc_status.h"
#include "proto/chunk.grpc.pb.h"

namespace scalefs {
namespace {

constexpr uint64_t kRegion = PairReplicator::kRegionSize;
constexpr uint64_t kDevSize = 8 << 20;

// A member must know its peer's address before it starts, so ports are
// chosen first: bind port 0, read the port, close.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 0;
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class PairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/chunk_pair_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    addr_[0] = "127.0.0.1:" + std::to_string(FreePort());
    addr_[1] = "127.0.0.1:" + std::to_string(FreePort());
    for (int i = 0; i < 2; ++i) {
      ChunkServerOptions o;
      o.listen_address = addr_[i];
      o.peer_address = addr_[1 - i];
      o.device_path = dir_ + (i == 0 ? "/a.img" : "/b.img");
      o.create_size = kDevSize;
      o.peer_timeout_ms = 3000;
      auto s = ChunkServer::Start(o);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      server_[i] = std::move(*s);
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(kMaxMessageSize);
      args.SetMaxSendMessageSize(kMaxMessageSize);
      stub_[i] = chunk::Chunk::NewStub(
          grpc::CreateCustomChannel(addr_[i], grpc::InsecureChannelCredentials(), args));
    }
  }
  void TearDown() override {
    for (auto& s : server_) s.reset();
    std::system(("rm -rf " + dir_).c_str());
  }

  chunk::JoinRequest JoinRequestFor(int i, uint64_t generation = 1) {
    chunk::JoinRequest r;
    r.set_pair_name("pair0");
    r.set_pair_id(1);
    r.set_member_index(i);
    r.set_peer_address(addr_[1 - i]);
    r.set_generation(generation);
    r.set_capacity(kDevSize);
    return r;
  }
  Status Join(int i, const chunk::JoinRequest& r) {
    grpc::ClientContext ctx;
    chunk::JoinReply reply;
    return FromGrpc(stub_[i]->Join(&ctx, r, &reply), "join");
  }
  void JoinBoth(uint64_t generation = 1) {
    ASSERT_TRUE(Join(0, JoinRequestFor(0, generation)).ok());
    ASSERT_TRUE(Join(1, JoinRequestFor(1, generation)).ok());
    ASSERT_TRUE(WaitConnected());
  }
  chunk::InfoReply Info(int i) {
    grpc::ClientContext ctx;
    chunk::InfoReply info;
    stub_[i]->Info(&ctx, chunk::InfoRequest(), &info);
    return info;
  }
  // Member A drives the first handshake a moment after both joined.
  bool WaitConnected() {
    for (int i = 0; i < 100; ++i) {
      const auto a = Info(0), b = Info(1);
      if (a.connection_state() == "Connected" && b.connection_state() == "Connected" &&
          a.disk_state() == "UpToDate" && b.disk_state() == "UpToDate")
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  Status Write(int i, uint64_t offset, const std::string& data, bool forwarded = false) {
    grpc::ClientContext ctx;
    chunk::WriteRequest r;
    r.set_offset(offset);
    r.set_data(data);
    r.set_forwarded(forwarded);
    if (forwarded) {
      r.set_pair_id(1);
      r.set_generation(Info(i).generation());
    }
    chunk::WriteReply reply;
    return FromGrpc(stub_[i]->Write(&ctx, r, &reply), "write");
  }
  Status WriteBatch(int i, const std::vector<std::pair<uint64_t, std::string>>& ranges) {
    grpc::ClientContext ctx;
    chunk::WriteBatchRequest r;
    for (const auto& [offset, data] : ranges) {
      chunk::WriteRange* w = r.add_ranges();
      w->set_offset(offset);
      w->set_data(data);
    }
    chunk::WriteReply reply;
    return FromGrpc(stub_[i]->WriteBatch(&ctx, r, &reply), "write batch");
  }
  std::string Read(int i, uint64_t offset, uint64_t length) {
    grpc::ClientContext ctx;
    chunk::ReadRequest r;
    r.set_offset(offset);
    r.set_length(length);
    chunk::ReadReply reply;
    Status s = FromGrpc(stub_[i]->Read(&ctx, r, &reply), "read");
    EXPECT_TRUE(s.ok()) << s.ToString();
    return reply.data();
  }
  std::vector<uint32_t> Checksums(int i) {
    grpc::ClientContext ctx;
    chunk::ChecksumRequest r;
    r.set_offset(0);
    r.set_length(kDevSize);
    chunk::ChecksumReply reply;
    Status s = FromGrpc(stub_[i]->Checksum(&ctx, r, &reply), "checksum");
    EXPECT_TRUE(s.ok()) << s.ToString();
    return {reply.crc32().begin(), reply.crc32().end()};
  }
  Status Flush(int i, bool local_only) {
    grpc::ClientContext ctx;
    chunk::FlushRequest r;
    r.set_local_only(local_only);
    chunk::FlushReply reply;
    return FromGrpc(stub_[i]->Flush(&ctx, r, &reply), "flush");
  }
  static std::string Pattern(uint64_t n, uint32_t seed) {
    std::string s(n, '\0');
    uint32_t x = seed * 2654435761u + 1;
    for (auto& c : s) {
      x = x * 1103515245u + 12345u;
      c = static_cast<char>(x >> 24);
    }
    return s;
  }

  std::string dir_;
  std::string addr_[2];
  std::unique_ptr<ChunkServer> server_[2];
  std::unique_ptr<chunk::Chunk::Stub> stub_[2];
};

TEST_F(PairTest, InfoReportsConfigurationAndMembership) {
  JoinBoth(3);
  grpc::ClientContext ctx;
  chunk::InfoReply info;
  ASSERT_TRUE(stub_[1]->Info(&ctx, chunk::InfoRequest(), &info).ok());
  EXPECT_EQ(info.listen_address(), addr_[1]);
  EXPECT_EQ(info.peer_address(), addr_[0]);
  EXPECT_EQ(info.device_size(), kDevSize);
  EXPECT_EQ(info.pair_name(), "pair0");
  EXPECT_EQ(info.member_index(), 1u);
  EXPECT_EQ(info.generation(), 3u);
  EXPECT_EQ(info.pair_id(), 1u);
  EXPECT_EQ(info.device_uuid().size(), 36u);
}

TEST_F(PairTest, WriteThroughEitherMemberReadsBackFromBoth) {
  JoinBoth();
  const std::string a = Pattern(64 << 10, 1);
  ASSERT_TRUE(Write(0, 4096, a).ok());             // region 0: A sequences
  ASSERT_TRUE(Write(0, kRegion + 8192, a).ok());   // region 1: forwarded to B
  const std::string b = Pattern(12345, 2);
  ASSERT_TRUE(Write(1, 3 * kRegion + 7, b).ok());  // region 3 through B
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Read(i, 4096, a.size()), a) << "member " << i;
    EXPECT_EQ(Read(i, kRegion + 8192, a.size()), a) << "member " << i;
    EXPECT_EQ(Read(i, 3 * kRegion + 7, b.size()), b) << "member " << i;
  }
  EXPECT_EQ(Checksums(0), Checksums(1));
}

// Many large (direct) reads at once, from both members, each get their own
// bytes, and an empty read is an empty reply.
TEST_F(PairTest, ConcurrentLargeReadsEachGetTheirBytes) {
  JoinBoth();
  constexpr int kRanges = 6;
  std::vector<std::string> want;
  for (int r = 0; r < kRanges; ++r) {
    want.push_back(Pattern(kRegion, 10 + r));
    ASSERT_TRUE(Write(r % 2, r * kRegion, want.back()).ok());
  }
  std::vector<std::thread> readers;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const int r = (t + i) % kRanges;
        if (Read((t + i) % 2, r * kRegion, kRegion) != want[r]) wrong++;
      }
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(Read(0, kRegion, 0), "");
  EXPECT_EQ(Read(1, kRegion + 4096, 3), want[1].substr(4096, 3));
}

TEST_F(PairTest, WriteSpanningSeveralRegions) {
  JoinBoth();
  const std::string big = Pattern(kMaxIoSize, 3);  // 4 MiB from mid-region: 5 pieces
  ASSERT_TRUE(Write(1, kRegion / 2, big).ok());
  const std::string mid = Pattern(2 * kRegion + 4096, 4);
  ASSERT_TRUE(Write(0, 5 * kRegion - 4096, mid).ok());
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(Read(i, kRegion / 2, big.size()) == big) << "member " << i;
    EXPECT_TRUE(Read(i, 5 * kRegion - 4096, mid.size()) == mid) << "member " << i;
  }
  EXPECT_EQ(Checksums(0), Checksums(1));
}

// Both members written at once, several writers on each, with different data
// to the same ranges straddling region boundaries: the replicas must end
// byte-identical and each region piece must hold one write entirely.
TEST_F(PairTest, ConcurrentOverlappingWritesConverge) {
  JoinBoth();
  constexpr int kRounds = 1000;
  constexpr int kWritersPerMember = 3;
  constexpr uint64_t kLen = 128 << 10;
  auto offset_of = [](int round) {
    return kRegion * (1 + round % 6) - kLen / 2 + (round % 3) * 4096;
  };
  // Every 8 bytes hold (writer, round), so any byte tells whose write it is.
  auto tagged = [](uint32_t writer, uint32_t round) {
    std::string s(kLen, '\0');
    for (uint64_t p = 0; p < kLen; p += 8) {
      std::memcpy(&s[p], &writer, 4);
      std::memcpy(&s[p + 4], &round, 4);
    }
    return s;
  };
  // Divergence would be overwritten by later rounds, so the replicas are
  // compared every few rounds, while all writers wait at the barrier (whose
  // completion step runs once all of them finished the previous round).
  int phase = 0, checks_failed = 0;
  auto compare_replicas = [&]() noexcept {
    if (++phase % 10 != 0 || checks_failed > 0) return;
    if (Checksums(0) != Checksums(1)) {
      ++checks_failed;
      ADD_FAILURE() << "replicas differ before round " << phase - 1;
    }
  };
  std::barrier sync(2 * kWritersPerMember, compare_replicas);
  std::atomic<int> failures{0};
  auto writer = [&](uint32_t id) {
    const int member = id % 2;
    for (int r = 0; r < kRounds; ++r) {
      const std::string data = tagged(id, r);
      sync.arrive_and_wait();
      Status s = Write(member, offset_of(r), data);
      if (!s.ok() && failures++ < 5) {
        ADD_FAILURE() << "round " << r << " writer " << id << ": " << s.ToString();
      }
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t id = 0; id < 2 * kWritersPerMember; ++id) threads.emplace_back(writer, id);
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);

  const auto crc_a = Checksums(0), crc_b = Checksums(1);
  int differing = 0;
  for (size_t i = 0; i < crc_a.size(); ++i) differing += crc_a[i] != crc_b[i];
  EXPECT_EQ(differing, 0) << "blocks out of sync between the replicas";
  // The last round's range: each region piece is one of the last writes,
  // whole, and the same on both members.
  const int last = kRounds - 1;
  const uint64_t off = offset_of(last);
  const std::string on_a = Read(0, off, kLen), on_b = Read(1, off, kLen);
  ASSERT_TRUE(on_a == on_b);
  const uint64_t boundary = (off / kRegion + 1) * kRegion;
  for (auto [from, to] : {std::pair{off, boundary}, std::pair{boundary, off + kLen}}) {
    const std::string piece = on_a.substr(from - off, to - from);
    uint32_t w, r;
    std::memcpy(&w, piece.data(), 4);
    std::memcpy(&r, piece.data() + 4, 4);
    EXPECT_LT(w, 2u * kWritersPerMember);
    EXPECT_EQ(r, static_cast<uint32_t>(last));
    EXPECT_TRUE(piece == tagged(w, r).substr(0, piece.size())) << "piece at " << from << " torn";
  }
}

// A batch mixes regions either member sequences, repeats a region, and is
// sent to either member: every range lands on both, in the batch's order.
TEST_F(PairTest, WriteBatchReachesBothMembersInOrder) {
  JoinBoth();
  std::vector<std::pair<uint64_t, std::string>> batch;
  for (uint32_t k = 0; k < 40; ++k) {
    batch.emplace_back((k % 7) * kRegion + (k % 5) * 8192, Pattern(4096, 100 + k));
  }
  batch.emplace_back(2 * kRegion, Pattern(4096, 1));  // overwrites an earlier range
  batch.emplace_back(2 * kRegion, Pattern(4096, 2));  // and is overwritten in turn
  Status s = WriteBatch(0, batch);
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = WriteBatch(1, {{3 * kRegion + 4096, Pattern(100, 3)}});
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::map<uint64_t, std::string> expect;
  for (const auto& [offset, data] : batch) expect[offset] = data;
  expect[3 * kRegion + 4096] = Pattern(100, 3);
  for (int i = 0; i < 2; ++i) {
    for (const auto& [offset, data] : expect) {
      EXPECT_TRUE(Read(i, offset, data.size()) == data) << "member " << i << " at " << offset;
    }
  }
  EXPECT_EQ(Checksums(0), Checksums(1));
}

// Batches through both members at once, to the same blocks: the replicas
// end identical (batches hold their regions' locks in one order).
TEST_F(PairTest, ConcurrentBatchesThroughBothMembersConverge) {
  JoinBoth();
  std::atomic<int> failures{0};
  auto writer = [&](uint32_t id) {
    std::mt19937 rng(id);
    for (uint32_t round = 0; round < 150; ++round) {
      std::vector<std::pair<uint64_t, std::string>> batch;
      for (int k = 0; k < 16; ++k) {
        batch.emplace_back((rng() % (4 * kRegion / 4096)) * 4096, Pattern(4096, id * 1000 + round));
      }
      Status s = WriteBatch(id % 2, batch);
      if (!s.ok() && failures++ < 5) ADD_FAILURE() << "writer " << id << ": " << s.ToString();
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t id = 0; id < 4; ++id) threads.emplace_back(writer, id);
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_EQ(Checksums(0), Checksums(1));
}

TEST_F(PairTest, BadWriteBatchChangesNothing) {
  JoinBoth();
  const auto before = Checksums(0);
  const std::string x(4096, 'x');
  // One bad range refuses the whole batch, good ranges included.
  EXPECT_EQ(WriteBatch(0, {{0, x}, {kRegion - 2048, x}}).code(), Status::Code::kInvalid);
  EXPECT_EQ(WriteBatch(1, {{0, x}, {kDevSize - 2048, x}}).code(), Status::Code::kRange);
  EXPECT_EQ(WriteBatch(0, {{0, x}, {4096, ""}}).code(), Status::Code::kInvalid);
  EXPECT_EQ(WriteBatch(1, {{UINT64_MAX - 100, x}}).code(), Status::Code::kRange);
  EXPECT_EQ(Checksums(0), before);
  EXPECT_EQ(Checksums(1), before);
}

TEST_F(PairTest, BoundsErrorsChangeNothing) {
  JoinBoth();
  const auto before = Checksums(0);
  EXPECT_EQ(Write(0, kDevSize - 4096, std::string(8192, 'x')).code(), Status::Code::kRange);
  EXPECT_EQ(Write(1, kDevSize, "x").code(), Status::Code::kRange);
  EXPECT_EQ(Write(0, UINT64_MAX - 100, std::string(4096, 'x')).code(), Status::Code::kRange);
  EXPECT_EQ(Write(1, 0, std::string(kMaxIoSize + 4096, 'x')).code(), Status::Code::kTooBig);
  {
    grpc::ClientContext ctx;
    chunk::ReadRequest r;
    r.set_offset(kDevSize - 10);
    r.set_length(20);
    chunk::ReadReply reply;
    Status s = FromGrpc(stub_[0]->Read(&ctx, r, &reply), "read");
    EXPECT_EQ(s.code(), Status::Code::kRange);
    EXPECT_NE(s.message().find("beyond device of 8388608 bytes"), std::string::npos);
  }
  EXPECT_EQ(Checksums(0), before);
  EXPECT_EQ(Checksums(1), before);
}

TEST_F(PairTest, UnjoinedMemberRefusesWrites) {
  Status s = Write(0, 0, "hello");
  EXPECT_EQ(s.code(), Status::Code::kStale);
  EXPECT_NE(s.message().find("not a member of a pair yet"), std::string::npos);
  grpc::ClientContext ctx;
  chunk::ReplicateRequest r;
  r.set_offset(0);
  r.set_data("hello");
  chunk::WriteReply reply;
  EXPECT_EQ(FromGrpc(stub_[1]->Replicate(&ctx, r, &reply), "replicate").code(),
            Status::Code::kStale);
  const auto zeros = Checksums(0);
  EXPECT_EQ(Checksums(1), zeros);
  EXPECT_EQ(zeros, std::vector<uint32_t>(zeros.size(), zeros[0])) << "something was written";
}

TEST_F(PairTest, JoinIsValidated) {
  auto wrong_peer = JoinRequestFor(0);
  wrong_peer.set_peer_address("127.0.0.1:1");
  Status s = Join(0, wrong_peer);
  EXPECT_EQ(s.code(), Status::Code::kInvalid);
  EXPECT_NE(s.message().find("127.0.0.1:1"), std::string::npos);
  EXPECT_NE(s.message().find(addr_[1]), std::string::npos);

  auto too_large = JoinRequestFor(0);
  too_large.set_capacity(kDevSize + 4096);
  EXPECT_EQ(Join(0, too_large).code(), Status::Code::kInvalid);

  JoinBoth();
  EXPECT_TRUE(Join(0, JoinRequestFor(0)).ok());  // idempotent
  auto other = JoinRequestFor(0);
  other.set_pair_name("pair9");
  other.set_pair_id(9);
  s = Join(0, other);
  EXPECT_EQ(s.code(), Status::Code::kExists);
  EXPECT_NE(s.message().find("already member of pair pair0"), std::string::npos);
}

TEST_F(PairTest, StaleGenerationReplicateRefused) {
  JoinBoth(5);
  grpc::ClientContext ctx;
  chunk::ReplicateRequest r;
  r.set_offset(0);
  r.set_data("stale!");
  r.set_generation(4);
  r.set_pair_id(1);
  chunk::WriteReply reply;
  Status s = FromGrpc(stub_[1]->Replicate(&ctx, r, &reply), "replicate");
  EXPECT_EQ(s.code(), Status::Code::kStale);
  EXPECT_NE(s.message().find("stale generation 4 < ours 5"), std::string::npos);
  EXPECT_EQ(Read(1, 0, 6), std::string(6, '\0'));
}

TEST_F(PairTest, ForwardedWriteToNonSequencerRefused) {
  JoinBoth();
  // Region 1 is sequenced by B; A must not accept it as forwarded.
  EXPECT_EQ(Write(0, kRegion, "x", /*forwarded=*/true).code(), Status::Code::kInvalid);
  // A forwarded write spanning two regions is refused too.
  EXPECT_EQ(Write(0, kRegion - 1, "xy", /*forwarded=*/true).code(), Status::Code::kInvalid);
  EXPECT_EQ(Read(0, kRegion - 1, 2), std::string(2, '\0'));
  EXPECT_EQ(Read(1, kRegion - 1, 2), std::string(2, '\0'));
}

TEST_F(PairTest, FlushSucceedsOnBoth) {
  JoinBoth();
  ASSERT_TRUE(Write(0, 0, Pattern(8192, 5)).ok());
  EXPECT_TRUE(Flush(0, false).ok());
  EXPECT_TRUE(Flush(1, false).ok());
  EXPECT_TRUE(Flush(1, true).ok());
}

TEST_F(PairTest, PeerDownRefusesWrites) {
  JoinBoth();
  ASSERT_TRUE(Write(0, 0, "before").ok());
  server_[1].reset();  // B dies
  // Region 0 (A sequences) and region 1 (forwarded to B): both refused,
  // never acknowledged with only A holding the data.
  Status s = Write(0, 4096, "alone");
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_EQ(Write(0, kRegion, "alone").code(), Status::Code::kUnavailable);
  EXPECT_EQ(Flush(0, false).code(), Status::Code::kUnavailable);
  EXPECT_EQ(Read(0, 0, 6), "before");  // reads still served
}

// Bad input from a peer: another pair's replicate, a forwarded write at a
// stale generation, a peer joined to another pair. Each is refused with a
// message that names the problem, and nothing is written.
TEST_F(PairTest, ReplicateFromAnotherPairRefused) {
  JoinBoth();
  grpc::ClientContext ctx;
  chunk::ReplicateRequest r;
  r.set_offset(0);
  r.set_data("foreign");
  r.set_generation(1);
  r.set_pair_id(7);
  chunk::WriteReply reply;
  Status s = FromGrpc(stub_[1]->Replicate(&ctx, r, &reply), "replicate");
  EXPECT_EQ(s.code(), Status::Code::kInvalid);
  EXPECT_NE(s.message().find("not our peer"), std::string::npos) << s.message();
  EXPECT_EQ(Read(1, 0, 7), std::string(7, '\0'));
}

TEST_F(PairTest, ForwardedWriteAtStaleGenerationRefused) {
  JoinBoth(4);
  grpc::ClientContext ctx;
  chunk::WriteRequest r;
  r.set_offset(0);  // region 0: A sequences
  r.set_data("stale");
  r.set_forwarded(true);
  r.set_pair_id(1);
  r.set_generation(3);
  chunk::WriteReply reply;
  Status s = FromGrpc(stub_[0]->Write(&ctx, r, &reply), "write");
  EXPECT_EQ(s.code(), Status::Code::kStale);
  EXPECT_NE(s.message().find("generation 3"), std::string::npos) << s.message();
  EXPECT_EQ(Read(0, 0, 5), std::string(5, '\0'));
  EXPECT_EQ(Read(1, 0, 5), std::string(5, '\0'));
}

TEST_F(PairTest, PeerOfAnotherPairIsRefused) {
  ASSERT_TRUE(Join(0, JoinRequestFor(0)).ok());
  auto other = JoinRequestFor(1);
  other.set_pair_name("pair9");
  other.set_pair_id(9);
  ASSERT_TRUE(Join(1, other).ok());
  chunk::InfoReply a;
  for (int i = 0; i < 100 && a.connection_state() != "StandAlone"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    a = Info(0);
  }
  EXPECT_EQ(a.connection_state(), "StandAlone");
  Status s = Write(0, 0, "x");
  EXPECT_EQ(s.code(), Status::Code::kStale);
  EXPECT_NE(s.message().find("StandAlone"), std::string::npos) << s.message();
  EXPECT_EQ(Checksums(0), Checksums(1));
}

TEST_F(PairTest, ResyncRangePushesOurBytes) {
  JoinBoth();
  ASSERT_TRUE(Write(0, 0, Pattern(8192, 9)).ok());
  // Make B differ behind the pair's back, then repair it from A.
  {
    auto dev = BlockDevice::Open(dir_ + "/b.img", 0);
    ASSERT_TRUE(dev.ok());
    ASSERT_TRUE((*dev)->Write(4096, "garbage").ok());
  }
  EXPECT_NE(Checksums(0), Checksums(1));
  grpc::ClientContext ctx;
  chunk::ResyncRangeRequest r;
  r.set_offset(0);
  r.set_length(2 * kRegion);
  chunk::ResyncRangeReply reply;
  ASSERT_TRUE(stub_[0]->ResyncRange(&ctx, r, &reply).ok());
  EXPECT_EQ(reply.bytes(), 2 * kRegion);
  EXPECT_EQ(Checksums(0), Checksums(1));
  EXPECT_EQ(Info(0).resynced_bytes_total(), 2 * kRegion);
}

// B comes back with a new device that is smaller than the pair: A refuses
// to adopt it (StandAlone, the reason in the log) and copies nothing.
TEST_F(PairTest, ReplacedPeerWithSmallerDeviceIsRefused) {
  JoinBoth();
  ASSERT_TRUE(Write(0, 0, Pattern(4096, 1)).ok());
  server_[1].reset();
  ASSERT_EQ(::unlink((dir_ + "/b.img").c_str()), 0);
  ChunkServerOptions o;
  o.listen_address = addr_[1];
  o.peer_address = addr_[0];
  o.device_path = dir_ + "/b.img";
  o.create_size = kDevSize / 2;
  o.peer_timeout_ms = 3000;
  auto b = ChunkServer::Start(o);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  server_[1] = std::move(*b);
  chunk::InfoReply a;
  for (int i = 0; i < 200 && a.connection_state() != "StandAlone"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    a = Info(0);
  }
  EXPECT_EQ(a.connection_state(), "StandAlone");
  EXPECT_EQ(a.resynced_bytes_total(), 0u);
  const chunk::InfoReply info_b = Info(1);
  EXPECT_TRUE(info_b.pair_name().empty()) << "the small device was joined";
}

}  // namespace
}  // namespace scalefs
