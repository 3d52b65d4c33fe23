// scalefs-chunk: one member of a storage pair.
#include <sys/stat.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "common/log_files.h"
#include "common/metrics.h"
#include "common/process_tuning.h"
#include "common/program_flags.h"
#include "common/rpc_security.h"
#include "chunk/block_device.h"
#include "chunk/chunk_server.h"

DEFINE_string(listen, "", "host:port this member serves on (required)");
DEFINE_string(device, "", "block device or image file to serve (required)");
DEFINE_string(peer, "", "host:port of the other member of the pair (required)");
DEFINE_string(state, "", "membership state file (default: <device>.state)");
DEFINE_string(size, "",
              "if --device does not exist, create it as a sparse file of this size "
              "(bytes, or with suffix K/M/G/T)");
DEFINE_bool(direct_io, true,
            "read and write aligned runs of 128 KiB or more with O_DIRECT (the page cache "
            "costs more CPU than it saves a member); false: everything through the page cache");
DEFINE_int32(peer_timeout_ms, 5000, "deadline of each call to the peer");
DEFINE_string(meta, "",
              "host:port of scalefs-meta, asked for the grant to write without the peer "
              "(default: the address meta gave when it joined this member to a pair)");
DEFINE_string(resync_rate, "0",
              "resync bandwidth limit in bytes/s (suffix K/M/G allowed), 0 = unlimited");

namespace {

int Usage(const std::string& problem) {
  std::fprintf(stderr, "scalefs-chunk: %s\n%s(--help lists the flags)\n", problem.c_str(),
               gflags::ProgramUsage());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // A device image holds every file's bytes: readable by this user only.
  umask(077);
  const scalefs::ProgramHelp help{
      "scalefs-chunk",
      "scalefs-chunk: one member of a storage pair, serving a device and mirroring it to its "
      "peer\n"
      "usage: scalefs-chunk --listen=HOST:PORT --device=PATH --peer=HOST:PORT [flags]\n",
      {{"chunk/main.cc", "member"},
       {"common/rpc_security.cc", "security"},
       {"common/metrics.cc", "metrics and logs"},
       {"common/log_files.cc", "metrics and logs"}}};
  const scalefs::ParsedFlags parsed = scalefs::ParseProgramFlags(argc, argv, help, false);
  if (parsed.exit_code >= 0) return parsed.exit_code;
  scalefs::StartLogging(argv[0]);
  scalefs::TuneProcess();

  if (FLAGS_listen.empty()) return Usage("--listen is required");
  if (FLAGS_device.empty()) return Usage("--device is required");
  if (FLAGS_peer.empty()) return Usage("--peer is required");
  if (FLAGS_peer_timeout_ms <= 0) return Usage("--peer_timeout_ms must be positive");
  if (scalefs::Status s = scalefs::InitRpcSecurityFromFlags("scalefs-chunk", ""); !s.ok()) {
    return Usage(s.message());
  }
  // Several members may share a host and its log folder: each is named by
  // its port.
  auto logs = scalefs::LogToFiles("scalefs-chunk-" + FLAGS_listen.substr(FLAGS_listen.rfind(':') + 1));
  if (!logs.ok()) {
    std::fprintf(stderr, "scalefs-chunk: %s\n", logs.status().message().c_str());
    return 2;
  }
  scalefs::Metrics metrics;
  if (scalefs::Status s = metrics.ServeFlag(); !s.ok()) {
    std::fprintf(stderr, "scalefs-chunk: %s\n", s.message().c_str());
    return 2;
  }

  scalefs::ChunkServerOptions options;
  options.listen_address = FLAGS_listen;
  options.device_path = FLAGS_device;
  options.peer_address = FLAGS_peer;
  options.state_path = FLAGS_state;
  options.peer_timeout_ms = FLAGS_peer_timeout_ms;
  options.meta_address = FLAGS_meta;
  options.direct_io = FLAGS_direct_io;
  options.metrics = &metrics;
  {
    auto rate = scalefs::ParseByteSize(FLAGS_resync_rate);
    if (!rate.ok()) return Usage("--resync_rate: " + rate.status().message());
    options.resync_rate = *rate;
  }
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
