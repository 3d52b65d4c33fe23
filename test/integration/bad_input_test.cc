// Bad input gets a clear error and changes nothing: requests outside a
// device, oversized or malformed requests, bad names, unknown inodes, and a
// pair added with an unreachable or already used member.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <thread>

#include "common/layout.h"
#include "common/rpc_channel.h"
#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ClusterOptions o;
    o.device_size = 256ull << 20;
    cluster_ = new Cluster(o);
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  static void TearDownTestSuite() { delete cluster_; }
  static Cluster* cluster_;
};
Cluster* BadInputTest::cluster_ = nullptr;

TEST_F(BadInputTest, ChunkRequestsOutsideTheDeviceAreRefused) {
  auto chunk = cluster_->ChunkStub(0, 0);
  const std::string before = cluster_->DeviceSha256(0, 1);
  const uint64_t size = 256ull << 20;
  struct Case { uint64_t offset; size_t len; grpc::StatusCode code; };
  for (const Case& k : {Case{size, 4096, grpc::OUT_OF_RANGE}, Case{size - 100, 4096, grpc::OUT_OF_RANGE},
                        Case{~0ull - 10, 4096, grpc::OUT_OF_RANGE}}) {
    grpc::ClientContext ctx;
    chunk::WriteRequest req;
    req.set_offset(k.offset);
    req.set_data(std::string(k.len, 'x'));
    chunk::WriteReply reply;
    grpc::Status s = chunk->Write(&ctx, req, &reply);
    EXPECT_EQ(s.error_code(), k.code) << "write at " << k.offset << ": " << s.error_message();
    EXPECT_FALSE(s.error_message().empty());
    grpc::ClientContext rctx;
    chunk::ReadRequest rreq;
    rreq.set_offset(k.offset);
    rreq.set_length(k.len);
    chunk::ReadReply rreply;
    s = chunk->Read(&rctx, rreq, &rreply);
    EXPECT_EQ(s.error_code(), k.code) << "read at " << k.offset;
  }
  // Oversized: a read longer than the largest request.
  grpc::ClientContext ctx;
  chunk::ReadRequest rreq;
  rreq.set_offset(0);
  rreq.set_length(kMaxIoSize + 4096);
  chunk::ReadReply rreply;
  grpc::Status s = chunk->Read(&ctx, rreq, &rreply);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(s.error_message().empty());
  // Oversized: a write larger than the message limit is cut off by gRPC.
  grpc::ClientContext wctx;
  chunk::WriteRequest wreq;
  wreq.set_offset(0);
  wreq.set_data(std::string(kMaxMessageSize + 1, 'y'));
  chunk::WriteReply wreply;
  s = chunk->Write(&wctx, wreq, &wreply);
  EXPECT_FALSE(s.ok());
  // Malformed: bytes that are not a WriteRequest.
  auto channel = NewChannel(cluster_->MemberAddress(0, 0), Role::kMember,
                            cluster_->Credentials("client"));
  grpc::GenericStub generic(channel);
  grpc::ClientContext gctx;
  grpc::CompletionQueue cq;
  std::string garbage = "\xff\xff\xff\xff\x0f not a protobuf";
  grpc::Slice slice(garbage);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::Status gs;
  std::atomic<bool> done{false};
  generic.UnaryCall(&gctx, "/scalefs.chunk.Chunk/Write", grpc::StubOptions(), &request, &response,
                    [&](grpc::Status st) { gs = st; done = true; });
  for (int i = 0; i < 100 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(done);
  EXPECT_FALSE(gs.ok());
  EXPECT_EQ(cluster_->DeviceSha256(0, 1), before) << "a refused request changed the peer's device";
}

TEST_F(BadInputTest, MetaRefusesBadNamesAndUnknownInodes) {
  auto meta = cluster_->MetaStub();
  for (const std::string& name : {std::string("a/b"), std::string(256, 'x'), std::string(""),
                                  std::string("."), std::string(".."), std::string("nul\0x", 5)}) {
    grpc::ClientContext ctx;
    meta::MakeNodeRequest req;
    req.set_parent(1);
    req.set_name(name);
    req.set_mode(S_IFREG | 0644);
    meta::AttrReply reply;
    grpc::Status s = meta->MakeNode(&ctx, req, &reply);
    EXPECT_FALSE(s.ok()) << "created a node named '" << name << "'";
    EXPECT_FALSE(s.error_message().empty());
  }
  {
    grpc::ClientContext ctx;
    meta::InodeRequest req;
    req.set_ino(987654321);
    meta::AttrReply reply;
    grpc::Status s = meta->GetAttr(&ctx, req, &reply);
    EXPECT_EQ(s.error_code(), grpc::NOT_FOUND);
    EXPECT_NE(s.error_message().find("987654321"), std::string::npos) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    meta::MakeNodeRequest req;
    req.set_parent(987654321);
    req.set_name("orphan");
    req.set_mode(S_IFREG | 0644);
    meta::AttrReply reply;
    EXPECT_EQ(meta->MakeNode(&ctx, req, &reply).error_code(), grpc::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    meta::CommitRequest req;
    req.set_ino(987654321);
    meta::AttrReply reply;
    EXPECT_EQ(meta->Commit(&ctx, req, &reply).error_code(), grpc::NOT_FOUND);
  }
  // A size no file can hold is refused (EFBIG), and the file stays usable.
  ASSERT_OK(WriteFile(cluster_->mnt() + "/sized", "x"));
  struct stat fst;
  ASSERT_SYS(stat((cluster_->mnt() + "/sized").c_str(), &fst));
  for (uint64_t size : {~uint64_t{0}, uint64_t{1} << 63}) {
    grpc::ClientContext ctx;
    meta::SetAttrRequest req;
    req.set_ino(fst.st_ino);
    req.set_set_size(true);
    req.set_size(size);
    meta::AttrReply reply;
    grpc::Status s = meta->SetAttr(&ctx, req, &reply);
    EXPECT_FALSE(s.ok()) << "size " << size << " accepted";
    EXPECT_EQ(s.error_details(), std::to_string(EFBIG)) << s.error_message();
    grpc::ClientContext actx;
    meta::AllocateRequest areq;
    areq.set_ino(fst.st_ino);
    areq.set_offset(size - 4096);
    areq.set_length(4096);
    meta::ExtentsReply areply;
    EXPECT_FALSE(meta->Allocate(&actx, areq, &areply).ok()) << "allocation at " << size - 4096;
  }
  ASSERT_SYS(stat((cluster_->mnt() + "/sized").c_str(), &fst));
  EXPECT_EQ(fst.st_size, 1);
  ASSERT_SYS(unlink((cluster_->mnt() + "/sized").c_str()));
  // Nothing appeared in the root.
  std::string out;
  EXPECT_EQ(cluster_->Cli({"fsck"}, &out), 0) << out;
  struct stat st;
  EXPECT_ERRNO(ENOENT, stat((cluster_->mnt() + "/orphan").c_str(), &st));
}

// Meta's DB and the members' devices hold every name and byte: no other
// local user may read them.
TEST_F(BadInputTest, DaemonFilesAreReadableByTheirOwnerOnly) {
  std::string out;
  ASSERT_EQ(RunShell("find " + cluster_->state_dir() + "/metadb " +
                         cluster_->DevicePath(0, 0) + " " + cluster_->DevicePath(1, 1) +
                         " -perm /077 -print",
                     &out),
            0);
  EXPECT_EQ(out, "") << "readable by others";
  ASSERT_EQ(RunShell("find " + cluster_->state_dir() + "/metadb -type f | wc -l", &out), 0);
  EXPECT_GT(std::stoi(out), 3) << "the find saw no DB files";
}

TEST_F(BadInputTest, PairAddWithUnreachableOrUsedMembersIsRefused) {
  std::string before, after, out;
  ASSERT_EQ(cluster_->Cli({"pair", "list"}, &before), 0) << before;
  // Unreachable member.
  int dead = FreePort();
  EXPECT_NE(cluster_->Cli({"pair", "add", "ghost", "127.0.0.1:" + std::to_string(dead),
                           "127.0.0.1:" + std::to_string(FreePort())}, &out), 0);
  EXPECT_NE(out.find("unreachable"), std::string::npos) << out;
  // Members that already belong to a pair.
  EXPECT_NE(cluster_->Cli({"pair", "add", "again", cluster_->MemberAddress(0, 0),
                           cluster_->MemberAddress(0, 1)}, &out), 0);
  EXPECT_NE(out.find("already"), std::string::npos) << out;
  // The same name twice.
  EXPECT_NE(cluster_->Cli({"pair", "add", "pair0", "127.0.0.1:1", "127.0.0.1:2"}, &out), 0);
  // Bad usage.
  EXPECT_EQ(cluster_->Cli({"pair", "add", "onlyname"}, &out), 2);
  EXPECT_NE(out.find("usage"), std::string::npos) << out;
  ASSERT_EQ(cluster_->Cli({"pair", "list"}, &after), 0);
  EXPECT_EQ(before, after) << "a refused pair add changed the registry";
}

}  // namespace
}  // namespace scalefs::test
