// One asynchronous call to the pair peer: the request and reply live here
// until the callback has run, and Wait() returns its outcome. Shared by the
// replication, grant and resync files of PairReplicator.
#pragma once

#include <chrono>
#include <functional>
#include <future>

#include <grpcpp/grpcpp.h>

namespace scalefs {

template <typename Request, typename Reply>
struct PeerCall {
  grpc::ClientContext ctx;
  Request request;
  Reply reply;
  std::promise<grpc::Status> done;

  std::function<void(grpc::Status)> Callback() {
    return [this](grpc::Status s) { done.set_value(std::move(s)); };
  }
  void SetDeadline(int timeout_ms) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  }
};

inline const char* MemberLetter(uint32_t index) { return index == 0 ? "A" : "B"; }

}  // namespace scalefs
