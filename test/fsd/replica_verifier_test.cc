#include "fsd/replica_verifier.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <mutex>
#include <set>

namespace scalefs {
namespace {

// A member with its device in memory: Checksum (stored checksums: every
// block GOOD but those in `damaged`), ResyncRange and Repair only.
class FakeMember final : public chunk::Chunk::Service {
 public:
  explicit FakeMember(uint64_t size) : device(size, '\0') {}

  grpc::Status Checksum(grpc::ServerContext*, const chunk::ChecksumRequest* req,
                        chunk::ChecksumReply* rep) override {
    std::lock_guard lock(mu);
    ++checksum_calls;
    for (uint64_t off = req->offset(); off < req->offset() + req->length();
         off += req->block_size()) {
      uint32_t crc = static_cast<uint32_t>(
          crc32(0, reinterpret_cast<const Bytef*>(device.data() + off), req->block_size()));
      // A write in flight: the block reads differently for a while.
      if (off == flaky_block && checksum_calls <= flaky_calls) crc ^= 1;
      if (req->stored()) {
        rep->add_stored_crc32c(crc);
        rep->add_state(damaged.count(off) ? chunk::BAD : chunk::GOOD);
      } else {
        rep->add_crc32(crc);
      }
    }
    return grpc::Status::OK;
  }
  grpc::Status ResyncRange(grpc::ServerContext*, const chunk::ResyncRangeRequest* req,
                           chunk::ResyncRangeReply* rep) override {
    if (!resync_implemented) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
    std::scoped_lock lock(mu, peer->mu);
    peer->device.replace(req->offset(), req->length(), device, req->offset(), req->length());
    ranges_resynced.push_back({req->offset(), req->length()});
    rep->set_bytes(req->length());
    return grpc::Status::OK;
  }

  grpc::Status Repair(grpc::ServerContext*, const chunk::RepairRequest* req,
                      chunk::RepairReply* rep) override {
    std::scoped_lock lock(mu, peer->mu);
    for (uint64_t off = req->offset(); off < req->offset() + req->length(); off += 4096) {
      if (!damaged.count(off)) continue;
      if (peer->damaged.count(off)) {
        rep->add_unrepaired_offsets(off);
        continue;
      }
      device.replace(off, 4096, peer->device, off, 4096);
      damaged.erase(off);
      rep->set_repaired_blocks(rep->repaired_blocks() + 1);
    }
    ranges_repaired.push_back({req->offset(), req->length()});
    return grpc::Status::OK;
  }

  std::mutex mu;
  std::string device;
  std::set<uint64_t> damaged;  // offsets of blocks that fail their checksum
  std::vector<ByteSpan> ranges_repaired;
  FakeMember* peer = nullptr;
  bool resync_implemented = true;
  int checksum_calls = 0;
  uint64_t flaky_block = ~0ull;
  int flaky_calls = 0;
  std::vector<ByteSpan> ranges_resynced;
};

class ReplicaVerifierTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 8 << 20;
  void SetUp() override {
    a_.peer = &b_;
    b_.peer = &a_;
    for (FakeMember* m : {&a_, &b_}) {
      grpc::ServerBuilder builder;
      builder.RegisterService(m);
      servers_.push_back(builder.BuildAndStart());
      stubs_.push_back(chunk::Chunk::NewStub(servers_.back()->InProcessChannel({})));
    }
  }
  void TearDown() override {
    for (auto& s : servers_) s->Shutdown();
  }
  ReplicaVerifier Verifier() {
    VerifyOptions o;
    o.range_bytes = 1 << 20;
    o.recheck_delays_ms = {0, 0, 0};
    return ReplicaVerifier(stubs_[0].get(), stubs_[1].get(), kSize, o);
  }

  FakeMember a_{kSize}, b_{kSize};
  std::vector<std::unique_ptr<grpc::Server>> servers_;
  std::vector<std::unique_ptr<chunk::Chunk::Stub>> stubs_;
};

TEST_F(ReplicaVerifierTest, IdenticalMembers) {
  ReplicaVerifier v = Verifier();
  uint64_t last = 0;
  int calls = 0;
  auto r = v.Verify([&](uint64_t done, uint64_t total) {
    EXPECT_GT(done, last);
    EXPECT_EQ(total, kSize);
    last = done;
    ++calls;
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(last, kSize);
  EXPECT_EQ(calls, 8);
  EXPECT_EQ(v.blocks(), kSize / 4096);
}

TEST_F(ReplicaVerifierTest, ReportsMergedRangesAndRepairsThem) {
  // Two adjacent blocks, one block across the 1 MiB range boundary, one byte.
  b_.device.replace(8192, 8192, 8192, 'x');
  b_.device[(1 << 20) - 1] = 'y';
  b_.device[1 << 20] = 'y';
  b_.device[kSize - 1] = 'z';
  ReplicaVerifier v = Verifier();
  auto r = v.Verify();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Spans(), (std::vector<ByteSpan>{{8192, 8192},
                                               {(1 << 20) - 4096, 8192},
                                               {kSize - 4096, 4096}}));
  ASSERT_TRUE(v.Repair(*r).ok());
  // Cut at 1 MiB regions.
  EXPECT_EQ(a_.ranges_resynced.size(), 4u);
  EXPECT_TRUE(a_.device == b_.device);
  auto left = v.Recheck(*r);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
}

TEST_F(ReplicaVerifierTest, RepairTakesTheCopyThatMatchesItsChecksum) {
  // A's block 2 and B's block 5 were overwritten behind the checksums' back;
  // block 7 differs on both, both sound (a divergence); block 9 is damaged
  // on both members.
  a_.device.replace(2 * 4096, 4096, 4096, 'p');
  a_.damaged.insert(2 * 4096);
  b_.device.replace(5 * 4096, 4096, 4096, 'q');
  b_.damaged.insert(5 * 4096);
  b_.device[7 * 4096] = 'r';
  a_.device[9 * 4096] = 's';
  b_.device[9 * 4096] = 't';
  a_.damaged.insert(9 * 4096);
  b_.damaged.insert(9 * 4096);
  const std::string good_a_block = b_.device.substr(2 * 4096, 4096);
  const std::string good_b_block = a_.device.substr(5 * 4096, 4096);
  ReplicaVerifier v = Verifier();
  auto r = v.Verify();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(v.damaged().only[0].Spans(), (std::vector<ByteSpan>{{2 * 4096, 4096}}));
  EXPECT_EQ(v.damaged().only[1].Spans(), (std::vector<ByteSpan>{{5 * 4096, 4096}}));
  EXPECT_EQ(v.damaged().both.Spans(), (std::vector<ByteSpan>{{9 * 4096, 4096}}));
  RepairCounts counts;
  ASSERT_TRUE(v.Repair(*r, &counts).ok());
  EXPECT_EQ(counts.mended[0], 1u);
  EXPECT_EQ(counts.mended[1], 1u);
  EXPECT_EQ(counts.pushed, 1u);
  EXPECT_EQ(a_.device.substr(2 * 4096, 4096), good_a_block);  // B's copy won
  EXPECT_EQ(b_.device.substr(5 * 4096, 4096), good_b_block);  // A's copy won
  EXPECT_EQ(b_.device[7 * 4096], a_.device[7 * 4096]);
  EXPECT_EQ(a_.ranges_resynced, (std::vector<ByteSpan>{{7 * 4096, 4096}}));
  // The doubly damaged block is left as it was.
  EXPECT_EQ(a_.device[9 * 4096], 's');
  EXPECT_EQ(b_.device[9 * 4096], 't');
  auto left = v.Recheck(*r);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->Spans(), (std::vector<ByteSpan>{{9 * 4096, 4096}}));
}

TEST_F(ReplicaVerifierTest, ABlockThatDiffersOnlyForAMomentIsNotReported) {
  a_.flaky_block = 3 << 20;
  a_.flaky_calls = 9;  // the whole first pass and the first re-check see it differ
  auto r = Verifier().Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST_F(ReplicaVerifierTest, RepairWithoutResyncRangeSaysSo) {
  b_.device[0] = 'x';
  a_.resync_implemented = false;
  ReplicaVerifier v = Verifier();
  auto r = v.Verify();
  ASSERT_TRUE(r.ok());
  Status s = v.Repair(*r);
  EXPECT_EQ(s.code(), Status::Code::kNotSupported) << s.ToString();
}

TEST_F(ReplicaVerifierTest, UnreachableMemberIsAnError) {
  // Nothing listens on port 1 of loopback.
  auto gone = chunk::Chunk::NewStub(
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()));
  auto r = ReplicaVerifier(stubs_[0].get(), gone.get(), kSize).Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("member B"), std::string::npos) << r.status().ToString();
}

TEST(DifferingBlocksTest, ComparesEntries) {
  EXPECT_EQ(DifferingBlocks({1, 2, 3}, {1, 5, 3}), (std::vector<uint64_t>{1}));
  EXPECT_EQ(DifferingBlocks({1, 2}, {1, 2, 3}), (std::vector<uint64_t>{2}));
  EXPECT_TRUE(DifferingBlocks({}, {}).empty());
}

}  // namespace
}  // namespace scalefs
