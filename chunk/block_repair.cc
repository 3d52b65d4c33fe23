// PairReplicator's mending of blocks that do not match their checksums: a
// read that finds one queues it here; `scalefs verify --repair` and `scalefs
// scrub` ask for a range (Repair). The good copy comes from the peer, and is
// written ordered with client writes to the block: by the region's
// sequencer, under its region lock (see WriteSequencedBatch).
#include "chunk/pair_replicator.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include "common/layout.h"
#include "common/rpc_status.h"

namespace scalefs {

Status PairReplicator::Repair(uint64_t offset, uint64_t length, chunk::RepairReply* reply) {
  const Membership m = state_->membership();
  if (!m.joined()) return Status::Stale("not a member of a pair yet");
  if (offset + length < offset || offset + length > m.capacity) {
    return Status::Range("repair range [" + std::to_string(offset) + ", +" +
                         std::to_string(length) + ") beyond pair capacity of " +
                         std::to_string(m.capacity));
  }
  for (uint64_t pos = offset; pos < offset + length;) {
    const uint64_t end = std::min(offset + length, (pos / kRegionSize + 1) * kRegionSize);
    Status s = RepairRegion(pos, end - pos, reply);
    if (!s.ok()) return s;
    pos = end;
  }
  return Status::OK();
}

Status PairReplicator::RepairRegion(uint64_t offset, uint64_t length, chunk::RepairReply* reply) {
  const Membership m = state_->membership();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (conn_ != Conn::kConnected || disk_ != Disk::kUpToDate) {
      return Status::Unavailable(std::string("cannot repair from the peer while ") +
                                 ConnName(conn_) + " " + DiskName(disk_));
    }
  }
  const bool sequencer = SequencerOf(offset) == m.member_index;
  std::unique_lock<std::mutex> lock(RegionLock(offset / kRegionSize), std::defer_lock);
  if (sequencer) lock.lock();
  std::string buf;
  std::vector<uint64_t> bad;
  Status s = device_->Read(offset, length, &buf, &bad);
  if (!s.ok() && s.code() != Status::Code::kCorrupt) return s;
  reply->set_bad_blocks(reply->bad_blocks() + bad.size());
  for (uint64_t at : bad) {
    const uint64_t n = std::min(kBlockSize, device_->size() - at);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.peer_timeout_ms));
    if (sequencer) {
      // We order the region's writes and hold its lock: the peer's copy
      // cannot change under us.
      chunk::ReadRequest req;
      req.set_offset(at);
      req.set_length(n);
      chunk::ReadReply good;
      s = FromGrpc(peer_->Read(&ctx, req, &good), "read block from peer " + options_.peer_address);
      if (s.ok() && good.data().size() != n) {
        s = Status::IoError("peer returned " + std::to_string(good.data().size()) + " bytes");
      }
      if (s.ok()) s = device_->Write(at, good.data());
    } else {
      // The peer orders the region's writes: it pushes its copy under its
      // region lock, and leaves out a block that fails its own check.
      chunk::ResyncRangeRequest req;
      req.set_offset(at);
      req.set_length(n);
      chunk::ResyncRangeReply rep;
      s = FromGrpc(peer_->ResyncRange(&ctx, req, &rep),
                   "ask peer " + options_.peer_address + " to push its block");
      std::string again;
      if (s.ok()) s = device_->Read(at, n, &again);
    }
    if (s.code() == Status::Code::kCorrupt) {
      LOG(ERROR) << "block at device offset " << at
                 << " does not match its checksum on either member: not repaired ("
                 << s.message() << ")";
      reply->add_unrepaired_offsets(at);
      continue;
    }
    if (!s.ok()) return s.Annotate("repair of block at device offset " + std::to_string(at));
    metrics_->repaired_blocks.Increment();
    reply->set_repaired_blocks(reply->repaired_blocks() + 1);
    LOG(WARNING) << "repaired block at device offset " << at << " from peer "
                 << options_.peer_address;
  }
  return Status::OK();
}

void PairReplicator::QueueRepair(const std::vector<uint64_t>& offsets) {
  if (offsets.empty()) return;
  {
    std::lock_guard<std::mutex> l(repair_mu_);
    repair_queue_.insert(repair_queue_.end(), offsets.begin(), offsets.end());
  }
  repair_cv_.notify_all();
}

void PairReplicator::RepairAfterWrite(const std::vector<uint64_t>& offsets) {
  for (uint64_t at : offsets) {
    metrics_->bad_blocks.Increment();
    LOG(ERROR) << "write: block at device offset " << at
               << " does not match its checksum; written, kept marked damaged, repairing it "
                  "from peer "
               << options_.peer_address;
  }
  QueueRepair(offsets);
}

void PairReplicator::RepairLoop() {
  for (;;) {
    std::vector<uint64_t> todo;
    {
      std::unique_lock<std::mutex> l(repair_mu_);
      repair_cv_.wait(l, [this] { return repair_stop_ || !repair_queue_.empty(); });
      if (repair_stop_) return;
      todo.swap(repair_queue_);
    }
    std::sort(todo.begin(), todo.end());
    todo.erase(std::unique(todo.begin(), todo.end()), todo.end());
    for (uint64_t at : todo) {
      chunk::RepairReply reply;
      // Checked again inside: a block repaired meanwhile is left alone.
      Status s = RepairRegion(at, std::min(kBlockSize, device_->size() - at), &reply);
      if (!s.ok()) {
        LOG(WARNING) << "repair of block at device offset " << at << ": " << s.ToString();
      }
    }
  }
}

}  // namespace scalefs
