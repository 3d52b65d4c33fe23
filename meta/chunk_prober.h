// The two calls meta makes to chunk servers when it registers a pair: ask a
// member who it is (Info) and make it part of the pair (Join).
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"
#include "proto/chunk.grpc.pb.h"

namespace scalefs::meta {

class ChunkProber {
 public:
  explicit ChunkProber(std::chrono::milliseconds deadline = std::chrono::seconds(3))
      : deadline_(deadline) {}

  // kUnavailable when the member cannot be reached within the deadline.
  Result<chunk::InfoReply> Info(const std::string& address) const;
  Status Join(const std::string& address, const chunk::JoinRequest& request) const;

 private:
  std::chrono::milliseconds deadline_;
};

}  // namespace scalefs::meta
