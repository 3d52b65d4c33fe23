#include "meta/meta_service.h"

#include <sys/stat.h>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "common/rpc_status.h"
#include "meta_test_util.h"

namespace scalefs::meta {
namespace {

// The service over real gRPC: replies carry the store's results and errors
// keep their errno and message.
TEST(MetaServiceTest, ServesStoreOverGrpc) {
  testing::TempDir dir;
  auto opened = MetaStore::Open(dir.path());
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<MetaStore> store = std::move(opened.value());
  MetaService service(store.get());
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&service);
  auto server = b.BuildAndStart();
  auto stub = Meta::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    InodeRequest req;
    req.set_ino(42);
    AttrReply rep;
    grpc::Status s = stub->GetAttr(&ctx, req, &rep);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(s.error_message(), "no inode 42");
    EXPECT_EQ(FromGrpc(s, "GetAttr").code(), Status::Code::kNotFound);
  }
  {
    grpc::ClientContext ctx;
    MakeNodeRequest req;
    req.set_parent(1);
    req.set_name("d");
    req.set_mode(S_IFDIR | 0755);
    AttrReply rep;
    ASSERT_TRUE(stub->MakeNode(&ctx, req, &rep).ok());
    EXPECT_EQ(rep.attr().nlink(), 2u);
  }
  {
    grpc::ClientContext ctx;
    ReadDirRequest req;
    req.set_ino(1);
    ReadDirReply rep;
    ASSERT_TRUE(stub->ReadDir(&ctx, req, &rep).ok());
    ASSERT_EQ(rep.entries_size(), 1);
    EXPECT_EQ(rep.entries(0).name(), "d");
  }
  {
    grpc::ClientContext ctx;
    UnlinkRequest req;
    req.set_parent(1);
    req.set_name("d");
    AttrReply rep;
    grpc::Status s = stub->Unlink(&ctx, req, &rep);
    EXPECT_EQ(FromGrpc(s, "Unlink").code(), Status::Code::kIsDir);
  }
  {
    grpc::ClientContext ctx;
    Empty req;
    FsckReply rep;
    ASSERT_TRUE(stub->Fsck(&ctx, req, &rep).ok());
    EXPECT_EQ(rep.problems_size(), 0);
    EXPECT_EQ(rep.inodes(), 2u);
  }
  server->Shutdown();
}

}  // namespace
}  // namespace scalefs::meta
