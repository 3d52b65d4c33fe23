#include "chunk/chunk_server.h"

#include "chunk/chunk_policy.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <glog/logging.h>

#include "common/layout.h"
#include "common/rpc_server.h"

namespace scalefs {

namespace {
// Both members may forward writes to each other at once, and a handler holding
// a region lock waits for the peer's Replicate handler. With a thread pool this
// large the handlers waiting on the peer cannot starve the ones the peer is
// waiting for (and the peer deadline bounds any wait anyway).
constexpr int kMaxServerThreads = 256;
}  // namespace

Result<std::unique_ptr<ChunkServer>> ChunkServer::Start(const ChunkServerOptions& options) {
  std::unique_ptr<ChunkServer> server(new ChunkServer());
  if (options.metrics == nullptr) server->own_metrics_ = std::make_unique<Metrics>();
  server->metrics_ = options.metrics != nullptr ? options.metrics : server->own_metrics_.get();
  server->chunk_metrics_ = std::make_unique<ChunkMetrics>(server->metrics_);
  auto device = BlockDevice::Open(options.device_path, options.create_size, options.direct_io);
  if (!device.ok()) return device.status();
  server->device_ = std::move(*device);
  const std::string state_path =
      options.state_path.empty() ? options.device_path + ".state" : options.state_path;
  const std::string dirty_path = state_path + ".bitmap";
  if (server->device_->created()) {
    // A new, empty device: whatever the old state said about the device that
    // was here (pair, generation, dirty regions) is not true of this one. It
    // starts unjoined with a new uuid; the peer joins it and syncs it fully.
    if (::unlink(state_path.c_str()) == 0) {
      LOG(WARNING) << "device " << options.device_path << " is new: discarded " << state_path;
    }
    ::unlink(dirty_path.c_str());
    ::unlink((options.device_path + ".crc").c_str());
  }
  // The checksums live beside the device, as its state does.
  auto checksums = ChecksumStore::Open(options.device_path + ".crc", server->device_->size());
  if (!checksums.ok()) return checksums.status();
  server->checksums_ = std::move(*checksums);
  server->checked_ =
      std::make_unique<CheckedDevice>(server->device_.get(), server->checksums_.get());
  auto state = MemberState::Open(state_path);
  if (!state.ok()) return state.status();
  server->state_ = std::move(*state);
  const uint64_t regions =
      (server->device_->size() + DirtyMap::kRegionSize - 1) / DirtyMap::kRegionSize;
  auto dirty = DirtyMap::Open(dirty_path, regions);
  if (!dirty.ok()) return dirty.status();
  server->dirty_ = std::move(*dirty);
  PairReplicatorOptions ro;
  ro.listen_address = options.listen_address;
  ro.peer_address = options.peer_address;
  ro.meta_address = options.meta_address;
  ro.peer_timeout_ms = options.peer_timeout_ms;
  ro.resync_rate = options.resync_rate;
  // Ping and poll several times per peer deadline, so a member notices
  // changes (and its read lease, half the deadline, stays fresh) in time.
  ro.monitor_interval_ms = std::clamp(options.peer_timeout_ms / 4, 50, 500);
  server->replicator_ = std::make_unique<PairReplicator>(
      server->checked_.get(), server->state_.get(), server->dirty_.get(),
      server->chunk_metrics_.get(), std::move(ro));
  server->service_ = std::make_unique<ChunkService>(
      options.listen_address, server->checked_.get(), server->state_.get(),
      server->replicator_.get(), server->chunk_metrics_.get());

  RpcServerOptions rpc;
  rpc.address = options.listen_address;
  rpc.services = {server->service_.get()};
  rpc.max_threads = kMaxServerThreads;
  rpc.name = "scalefs-chunk";
  rpc.policy = ChunkPolicy();
  rpc.metrics = server->metrics_;
  auto started = StartRpcServer(rpc, &server->port_);
  if (!started.ok()) return started.status();
  server->server_ = std::move(started.value());
  server->replicator_->Start();
  ChunkServer* self = server.get();
  server->state_hook_ = ScrapeHook(server->metrics_, [self] {
    chunk::InfoReply info;
    self->service_->Info(nullptr, nullptr, &info);
    self->chunk_metrics_->ShowState(info, self->state_->membership().joined());
  });
  const Membership m = server->state_->membership();
  LOG(INFO) << "chunk member listening on " << options.listen_address << " (port "
            << server->port_ << "), device " << options.device_path << " of "
            << server->device_->size() << " bytes, peer " << options.peer_address << ", "
            << (m.joined() ? "member " + std::to_string(m.member_index) + " of pair " + m.pair_name
                           : std::string("not joined"));
  return server;
}

ChunkServer::~ChunkServer() { Shutdown(); }

void ChunkServer::Shutdown() {
  if (!server_ || shut_down_.exchange(true)) return;
  replicator_->Stop();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

void ChunkServer::Wait() {
  if (server_) server_->Wait();
}

}  // namespace scalefs
