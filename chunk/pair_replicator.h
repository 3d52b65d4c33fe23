// The DRBD part of a member: protocol C replication to the pair peer with both
// members primary, degraded mode under meta's grant, and resync.
//
// States, as DRBD names them (Info reports them):
//  - Connected, UpToDate/UpToDate: both members take writes. Region r is
//    sequenced by member r%2 (see WriteSequenced); a write is acknowledged
//    only after both members applied it.
//  - Degraded: when replication to the peer fails (unreachable, deadline,
//    refused), the member asks meta for the grant to write alone
//    (RequestSolo). Granted: it becomes solo (WFConnection), sequences ALL
//    regions and marks every region it writes out of sync. Refused: it is
//    Outdated and refuses reads and writes. Meta unreachable: the write is
//    refused (a member that reaches neither its peer nor meta blocks writes).
//  - A member that is not solo and learns that its peer holds the grant
//    (meta's PairState, polled by the monitor; or a refused grant) becomes
//    Outdated. Forwarded writes and Replicates carry the sender's generation
//    and pair id: an older generation, another pair, or a sender that lost
//    the grant race is refused with Stale.
//  - Resync: the member with the newer data (the grant holder, else the
//    higher generation, else member A) drives a handshake when its peer
//    answers (SyncState QUERY, BEGIN, END): the peer becomes SyncTarget
//    (Inconsistent, refuses client I/O), this member SyncSource (sequences
//    all regions and replicates every new write). It copies every region
//    dirty on either side (its out-of-sync bits, plus the peer's out-of-sync
//    and activity-log bits) under the region lock, ends its grant at meta
//    (EndSolo) and both adopt the new generation: Connected UpToDate/UpToDate.
//    A peer with an unjoined or replaced device (new device uuid) is joined
//    to the pair and gets a full sync.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "chunk/block_device.h"
#include "chunk/checked_device.h"
#include "chunk/chunk_metrics.h"
#include "chunk/dirty_map.h"
#include "chunk/member_state.h"
#include "common/status.h"
#include "proto/chunk.grpc.pb.h"
#include "proto/meta.grpc.pb.h"

namespace scalefs {

struct PairReplicatorOptions {
  std::string listen_address;    // this member, as its peer knows it
  std::string peer_address;      // the configured peer
  std::string meta_address;      // overrides the one meta gave at join
  int peer_timeout_ms = 5000;    // deadline of each call to the peer
  int meta_timeout_ms = 3000;    // deadline of each call to meta
  int monitor_interval_ms = 500; // peer ping and meta poll period
  uint64_t resync_rate = 0;      // bytes/s, 0 = unlimited
};

class PairReplicator {
 public:
  // The device is cut into regions; each region is sequenced by one member
  // while connected (by the solo/sync-source member alone otherwise).
  static constexpr uint64_t kRegionSize = DirtyMap::kRegionSize;
  static uint32_t SequencerOf(uint64_t offset) {
    return static_cast<uint32_t>((offset / kRegionSize) % 2);
  }

  // `device`, `state`, `dirty` and `metrics` outlive the replicator.
  PairReplicator(CheckedDevice* device, MemberState* state, DirtyMap* dirty, ChunkMetrics* metrics,
                 PairReplicatorOptions options);
  ~PairReplicator();

  const std::string& peer_address() const { return options_.peer_address; }

  // Starts the monitor thread (peer ping, meta poll, handshakes, activity
  // log housekeeping); Stop ends it.
  void Start();
  void Stop();

  // Served only while this member's disk is UpToDate. A block that does not
  // match its checksum fails the read with Corrupt (the client reads the
  // peer) and is queued for repair from the peer.
  // `crcs` as CheckedDevice::Read's.
  Status Read(uint64_t offset, uint64_t length, std::string* out,
              std::vector<uint32_t>* crcs = nullptr);
  // Mends this member's blocks of the range that do not match their
  // checksums from the peer's copy, ordered with client writes: under this
  // member's region lock when it sequences the region (it reads the peer's
  // block), else the peer pushes its block under its own (ResyncRange).
  Status Repair(uint64_t offset, uint64_t length, chunk::RepairReply* reply);
  // A client write, or (forwarded) the part of one the peer handed us because
  // we sequence it. OK only once both members applied every byte, or this
  // member applied it holding meta's grant.
  Status Write(const chunk::WriteRequest& req);
  // Many small client writes (each inside one region), acknowledged as one:
  // OK only when every one of them would have been.
  Status WriteBatch(const chunk::WriteBatchRequest& req);
  // Applies a write the peer already ordered, locally only.
  Status Replicate(const chunk::ReplicateRequest& req);
  // fdatasync here and, unless local_only, on the peer at the same time.
  Status Flush(bool local_only);
  // Meta's `pair add` (or a survivor joining a fresh peer).
  Status Join(const Membership& m);
  // Pushes this member's bytes of the range to the peer under region locks.
  Result<uint64_t> ResyncRange(uint64_t offset, uint64_t length);
  Status SyncState(const chunk::SyncStateRequest& req, chunk::SyncStateReply* reply);
  void FillInfo(chunk::InfoReply* reply);

 private:
  enum class Conn { kWFConnection, kConnected, kSyncSource, kSyncTarget, kStandAlone };
  // kConsistent: just started, not yet known whether the peer moved on.
  enum class Disk { kConsistent, kUpToDate, kOutdated, kInconsistent };
  static const char* ConnName(Conn c);
  static const char* DiskName(Disk d);

  using Crcs = google::protobuf::RepeatedField<uint32_t>;
  // A piece of a client write inside one region, with its sender's
  // checksums (see CheckedDevice::Write).
  struct Piece {
    uint64_t offset;
    std::string_view data;
    Crcs crcs;
  };
  Status WriteSequenced(const Piece& piece);
  Status WriteSequencedBatch(const std::vector<Piece>& pieces);
  // Repair of the bad blocks of one region.
  Status RepairRegion(uint64_t offset, uint64_t length, chunk::RepairReply* reply);
  // Background repair of blocks a read found bad.
  void QueueRepair(const std::vector<uint64_t>& offsets);
  // Blocks a partial write found damaged: logged, counted and queued (the
  // repair thread takes the region lock after the writer let it go).
  void RepairAfterWrite(const std::vector<uint64_t>& offsets);
  void RepairLoop();
  // Client write admission: serving, handshake done or meta's grant held.
  // sequence_all: this member orders every region (alone or resync source).
  Status AdmitClientWrite(bool* sequence_all);
  // Gets (or confirms) meta's grant to write alone; Stale when outdated,
  // Unavailable when meta cannot be reached.
  Status EnsureSolo(const std::string& why);
  // Sleeps until a write made alone may be acknowledged.
  void WaitOutPeerLease();
  // Client I/O admission: OK, or why this member cannot serve it now.
  Status CheckServing(bool write);
  void MarkOutdated(const std::string& why);

  void MonitorLoop();
  void PollMeta(const Membership& m);
  void PingPeer(const Membership& m);
  bool PeerAnswers();
  // Driver side of the handshake; returns when the peer is Connected or the
  // attempt failed (the next tick retries).
  Status Handshake(const Membership& m, const chunk::InfoReply& peer);
  Status ResyncRegions(const Membership& m);
  Status SendRegion(uint64_t region, uint64_t capacity, uint64_t generation, uint32_t pair_id);
  Status CallSyncState(chunk::SyncStateRequest::Phase phase, uint64_t generation,
                       uint32_t pair_id, chunk::SyncStateReply* reply);
  Status PeerReplicate(uint64_t offset, std::string_view data, const Membership& m, bool resync,
                       const std::vector<uint32_t>& crcs);
  // Reads [offset, offset+length) checked, and sends it to the peer with its
  // checksums, leaving out blocks that fail their check here (logged and
  // counted): the peer keeps its own copy of those. Returns the bytes sent.
  Result<uint64_t> PushChecked(uint64_t offset, uint64_t length, const Membership& m);

  std::unique_ptr<meta::Meta::Stub> MetaStub();
  std::mutex& RegionLock(uint64_t region) { return region_locks_[region % region_locks_.size()]; }
  void LockAllRegions();
  void UnlockAllRegions();
  std::chrono::milliseconds Lease() const;

  CheckedDevice* const device_;
  MemberState* const state_;
  DirtyMap* const dirty_;
  ChunkMetrics* const metrics_;
  const PairReplicatorOptions options_;
  std::unique_ptr<chunk::Chunk::Stub> peer_;
  // Striped: a region maps to one mutex; two regions sharing one only
  // serialize more than needed. Lock order: region locks (in index order),
  // then grant_mu_, then mu_.
  std::array<std::mutex, 256> region_locks_;
  std::mutex grant_mu_;  // one grant request to meta at a time

  std::mutex mu_;  // guards the state below
  Conn conn_ = Conn::kWFConnection;
  Disk disk_ = Disk::kConsistent;
  std::string peer_disk_ = "DUnknown";
  bool solo_ = false;           // holds meta's grant
  bool peer_reachable_ = false; // last ping answered
  int ping_failures_ = 0;        // in a row
  std::chrono::steady_clock::time_point peer_unjoined_since_{};
  std::string outdated_reason_;
  // Last time the peer or meta confirmed this member's data is current:
  // reads of a member that was frozen must not return stale bytes.
  std::chrono::steady_clock::time_point confirmed_at_{};
  // No write made alone is acknowledged before this: the peer may serve
  // reads on a confirmation asked before meta granted us (see WaitOutPeerLease).
  std::chrono::steady_clock::time_point solo_acks_from_{};
  std::string meta_stub_address_;
  std::shared_ptr<grpc::Channel> meta_channel_;

  std::atomic<uint64_t> sync_total_{0}, sync_done_{0}, sync_rate_{0}, resynced_total_{0};

  std::mutex monitor_mu_;
  std::condition_variable monitor_cv_;
  bool stop_ = false;
  std::thread monitor_;

  std::mutex repair_mu_;
  std::condition_variable repair_cv_;
  std::vector<uint64_t> repair_queue_;  // device offsets of bad blocks
  bool repair_stop_ = false;
  std::thread repairer_;
};

}  // namespace scalefs
