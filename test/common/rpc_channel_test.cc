#include "common/rpc_channel.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "proto/chunk.grpc.pb.h"

namespace scalefs {
namespace {

using namespace std::chrono_literals;

class InfoOnly final : public chunk::Chunk::Service {
  grpc::Status Info(grpc::ServerContext*, const chunk::InfoRequest*,
                    chunk::InfoReply* reply) override {
    reply->set_listen_address("served");
    return grpc::Status::OK;
  }
};

// A TCP relay on 127.0.0.1 that holds every chunk of bytes `delay` before
// passing it on: a slow link or a loaded machine, where a connection's
// handshake takes longer than a quiet loopback's.
class SlowRelay {
 public:
  SlowRelay(int backend_port, std::chrono::milliseconds delay)
      : backend_port_(backend_port), delay_(delay) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(listen_fd_, 8);
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~SlowRelay() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    for (std::thread& t : pumps_) t.join();
    for (int fd : fds_) close(fd);
  }
  int port() const { return port_; }

 private:
  void Accept() {
    while (!stop_) {
      int in = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (in < 0) return;
      int out = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(backend_port_));
      if (connect(out, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(in);
        close(out);
        continue;
      }
      fds_.push_back(in);
      fds_.push_back(out);
      pumps_.emplace_back([this, in, out] { Pump(in, out); });
      pumps_.emplace_back([this, in, out] { Pump(out, in); });
    }
  }
  void Pump(int from, int to) {
    std::vector<char> buf(64 << 10);
    for (;;) {
      ssize_t n = read(from, buf.data(), buf.size());
      if (n <= 0) break;
      std::this_thread::sleep_for(delay_);
      if (send(to, buf.data(), static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    shutdown(to, SHUT_WR);
  }

  const int backend_port_;
  const std::chrono::milliseconds delay_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<int> fds_;  // written by the acceptor only, read after it joined
  std::vector<std::thread> pumps_;
};

// The CI machine, loaded by two test clusters at once, took longer than
// 100 ms to finish a TLS handshake: with gRPC's minimum connect timeout set
// to the 100 ms reconnect backoff, every first call to a freshly started
// daemon failed with "timed out before receiving SETTINGS frame". A
// connection attempt must get seconds, whatever the backoff between them.
TEST(NewChannelTest, ASlowHandshakeStillConnectsWithinTheCallDeadline) {
  InfoOnly service;
  grpc::ServerBuilder builder;
  int server_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &server_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server_port, 0);
  SlowRelay relay(server_port, 400ms);

  auto channel = NewChannel("127.0.0.1:" + std::to_string(relay.port()), Role::kMember,
                            grpc::InsecureChannelCredentials());
  auto stub = chunk::Chunk::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  chunk::InfoRequest req;
  chunk::InfoReply reply;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status s = stub->Info(&ctx, req, &reply);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(s.ok()) << s.error_message() << " after "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms";
  EXPECT_EQ(reply.listen_address(), "served");
  server->Shutdown(std::chrono::system_clock::now() + 1s);
}

// What the short backoff is for: a server that restarts is dialled again
// within about a second, not after gRPC's default two minutes.
TEST(NewChannelTest, ARestartedServerIsReachedAgainWithinSeconds) {
  InfoOnly service;
  int port = 0;
  auto start_server = [&](int want) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(want), grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service);
    return builder.BuildAndStart();
  };
  std::unique_ptr<grpc::Server> server = start_server(0);
  ASSERT_NE(port, 0);
  const int first_port = port;
  auto channel = NewChannel("127.0.0.1:" + std::to_string(port), Role::kMember,
                            grpc::InsecureChannelCredentials());
  auto stub = chunk::Chunk::NewStub(channel);
  auto call = [&](bool wait_for_ready) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    ctx.set_wait_for_ready(wait_for_ready);
    chunk::InfoRequest req;
    chunk::InfoReply reply;
    return stub->Info(&ctx, req, &reply);
  };
  ASSERT_TRUE(call(false).ok());
  server->Shutdown(std::chrono::system_clock::now() + 1s);
  server.reset();
  // Down: refused at once, not after the call's deadline.
  const auto down_at = std::chrono::steady_clock::now();
  EXPECT_FALSE(call(false).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - down_at, 3s);
  std::this_thread::sleep_for(3s);  // the backoff has grown to its 1 s cap
  server = start_server(first_port);
  ASSERT_EQ(port, first_port);
  const auto up_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(call(true).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - up_at, 3s);
  server->Shutdown(std::chrono::system_clock::now() + 1s);
}

}  // namespace
}  // namespace scalefs
