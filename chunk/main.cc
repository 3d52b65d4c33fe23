// scalefs-chunk: one member of a storage pair.
#include <signal.h>

#include <cstdio>
#include <thread>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "chunk/block_device.h"
#include "chunk/chunk_server.h"

DEFINE_string(listen, "", "host:port this member serves on (required)");
DEFINE_string(device, "", "block device or image file to serve (required)");
DEFINE_string(peer, "", "host:port of the other member of the pair (required)");
DEFINE_string(state, "", "membership state file (default: <device>.state)");
DEFINE_string(size, "",
              "if --device does not exist, create it as a sparse file of this size "
              "(bytes, or with suffix K/M/G/T)");
DEFINE_int32(peer_timeout_ms, 5000, "deadline of each call to the peer");

namespace {

int Usage(const std::string& problem) {
  std::fprintf(stderr, "scalefs-chunk: %s\n%s\n", problem.c_str(),
               gflags::ProgramUsage());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "serve one member of a storage pair\n"
      "usage: scalefs-chunk --listen=HOST:PORT --device=PATH --peer=HOST:PORT "
      "[--state=PATH] [--size=N[K|M|G|T]] [--peer_timeout_ms=MS]");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;

  if (argc > 1) return Usage(std::string("unexpected argument '") + argv[1] + "'");
  if (FLAGS_listen.empty()) return Usage("--listen is required");
  if (FLAGS_device.empty()) return Usage("--device is required");
  if (FLAGS_peer.empty()) return Usage("--peer is required");
  if (FLAGS_peer_timeout_ms <= 0) return Usage("--peer_timeout_ms must be positive");

  scalefs::ChunkServerOptions options;
  options.listen_address = FLAGS_listen;
  options.device_path = FLAGS_device;
  options.peer_address = FLAGS_peer;
  options.state_path = FLAGS_state;
  options.peer_timeout_ms = FLAGS_peer_timeout_ms;
  if (!FLAGS_size.empty()) {
    auto size = scalefs::ParseByteSize(FLAGS_size);
    if (!size.ok()) return Usage("--size: " + size.status().message());
    options.create_size = *size;
  }

  // SIGTERM/SIGINT are taken by a thread with sigwait, so shutdown runs as
  // ordinary code rather than in a signal handler. Blocked before any gRPC
  // thread starts, so all threads inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = scalefs::ChunkServer::Start(options);
  if (!server.ok()) {
    LOG(ERROR) << "cannot start: " << server.status().ToString();
    return 1;
  }
  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    LOG(INFO) << "signal " << sig << ": shutting down";
    (*server)->Shutdown();
  });
  (*server)->Wait();
  signal_waiter.join();
  LOG(INFO) << "stopped";
  return 0;
}
