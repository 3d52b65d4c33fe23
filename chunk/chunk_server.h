// One running member: opens the device and the state file, and serves the
// Chunk service on its listen address. Shared by main.cc, the unit tests and
// anything else that wants a member in-process.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "chunk/block_device.h"
#include "chunk/chunk_metrics.h"
#include "chunk/chunk_service.h"
#include "chunk/dirty_map.h"
#include "chunk/member_state.h"
#include "chunk/pair_replicator.h"
#include "common/metrics.h"
#include "common/status.h"

namespace scalefs {

struct ChunkServerOptions {
  std::string listen_address;  // host:port; port 0 picks a free one
  std::string device_path;
  std::string peer_address;
  std::string state_path;      // empty: <device_path>.state
  uint64_t create_size = 0;    // create the device as a sparse file if missing
  int peer_timeout_ms = 5000;
  std::string meta_address;    // empty: the address meta gave at join
  uint64_t resync_rate = 0;    // bytes/s, 0 = unlimited
  bool direct_io = true;      // large aligned I/O bypasses the page cache
  // Where the member's metrics and its gRPC calls are counted; null: in a
  // registry of its own that nobody serves (tests run several members).
  Metrics* metrics = nullptr;
};

class ChunkServer {
 public:
  static Result<std::unique_ptr<ChunkServer>> Start(const ChunkServerOptions& options);
  ~ChunkServer();

  // The port actually bound (useful with port 0).
  int port() const { return port_; }
  // Stops accepting calls, lets running ones finish (up to a short deadline).
  void Shutdown();
  // Blocks until Shutdown.
  void Wait();

 private:
  ChunkServer() = default;

  std::unique_ptr<Metrics> own_metrics_;  // when the options gave none
  Metrics* metrics_ = nullptr;
  std::unique_ptr<ChunkMetrics> chunk_metrics_;
  std::unique_ptr<BlockDevice> device_;
  std::unique_ptr<ChecksumStore> checksums_;
  std::unique_ptr<CheckedDevice> checked_;
  std::unique_ptr<MemberState> state_;
  std::unique_ptr<DirtyMap> dirty_;
  std::unique_ptr<PairReplicator> replicator_;
  std::unique_ptr<ChunkService> service_;
  std::unique_ptr<grpc::Server> server_;
  ScrapeHook state_hook_;  // reads service_ and state_: declared after them
  int port_ = 0;
  std::atomic<bool> shut_down_{false};
};

}  // namespace scalefs
