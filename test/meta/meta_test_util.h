// Helpers for meta unit tests: a temporary DB directory and an in-process
// stand-in for a chunk server's Info/Join, so PairAdd runs over real gRPC.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "meta/meta_store.h"
#include "proto/chunk.grpc.pb.h"

namespace scalefs::meta::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/scalefs_meta_test.XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Answers Info with what it was configured with; Join records the pair.
class FakeChunkMember final : public chunk::Chunk::Service {
 public:
  FakeChunkMember(uint64_t device_size) {
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(this);
    server_ = b.BuildAndStart();
    address_ = "127.0.0.1:" + std::to_string(port);
    info_.set_listen_address(address_);
    info_.set_device_size(device_size);
  }
  ~FakeChunkMember() override { server_->Shutdown(); }

  const std::string& address() const { return address_; }
  void set_peer(const std::string& peer) {
    std::lock_guard<std::mutex> l(mu_);
    info_.set_peer_address(peer);
  }
  void set_pair_name(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    info_.set_pair_name(name);
  }
  void set_pair_id(uint32_t id) {
    std::lock_guard<std::mutex> l(mu_);
    info_.set_pair_id(id);
  }
  chunk::JoinRequest last_join() {
    std::lock_guard<std::mutex> l(mu_);
    return join_;
  }
  int joins() {
    std::lock_guard<std::mutex> l(mu_);
    return joins_;
  }

  grpc::Status Info(grpc::ServerContext*, const chunk::InfoRequest*,
                    chunk::InfoReply* reply) override {
    std::lock_guard<std::mutex> l(mu_);
    *reply = info_;
    return grpc::Status::OK;
  }
  grpc::Status Join(grpc::ServerContext*, const chunk::JoinRequest* req,
                    chunk::JoinReply*) override {
    std::lock_guard<std::mutex> l(mu_);
    join_ = *req;
    joins_++;
    info_.set_pair_name(req->pair_name());
    info_.set_pair_id(req->pair_id());
    info_.set_member_index(req->member_index());
    info_.set_generation(req->generation());
    return grpc::Status::OK;
  }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::mutex mu_;
  chunk::InfoReply info_;
  chunk::JoinRequest join_;
  int joins_ = 0;
};

// Two members configured as each other's peer.
struct FakePair {
  FakePair(uint64_t size_a, uint64_t size_b) : a(size_a), b(size_b) {
    a.set_peer(b.address());
    b.set_peer(a.address());
  }
  FakeChunkMember a;
  FakeChunkMember b;
};

}  // namespace scalefs::meta::testing
