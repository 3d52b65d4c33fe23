// GCC 12 reports a false maybe-uninitialized inside std::variant here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "common/status.h"

#include <gtest/gtest.h>

#include "common/rpc_status.h"

namespace scalefs {
namespace {

TEST(StatusTest, CodesAreErrnosAndSurviveGrpc) {
  Status s = Status::NotEmpty("directory 7 has entries");
  EXPECT_EQ(s.errno_value(), ENOTEMPTY);
  EXPECT_EQ(s.ToString(), "ENOTEMPTY: directory 7 has entries");
  Status back = FromGrpc(ToGrpc(s), "meta Unlink");
  EXPECT_EQ(back.code(), Status::Code::kNotEmpty);
  EXPECT_EQ(back.message(), "meta Unlink: directory 7 has entries");
}

TEST(StatusTest, TransportFailuresMeanTryElsewhere) {
  Status s = FromGrpc(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused"), "chunk Write");
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  s = FromGrpc(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "late"), "chunk Write");
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_TRUE(FromGrpc(grpc::Status::OK, "x").ok());
}

TEST(StatusTest, ResultHoldsValueOrStatus) {
  Result<int> good = 5;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 5);
  Result<int> bad = Status::NotFound("no inode 9");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(Status::FromErrno(EACCES, "open x").code(), Status::Code::kAccess);
}

}  // namespace
}  // namespace scalefs
