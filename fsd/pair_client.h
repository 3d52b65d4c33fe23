// Data I/O to storage pairs. Each pair has two members that both accept
// reads and writes (dual primary); a write goes first to the member that
// sequences its 1 MiB device region (or to the member --prefer_member names),
// and to the other one when that member is unreachable (multipath).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "common/status.h"
#include "common/worker_pool.h"
#include "fsd/client_metrics.h"
#include "fsd/io_plan.h"
#include "fsd/meta_client.h"
#include "proto/chunk.grpc.pb.h"

namespace scalefs {

// The two members of one pair.
class PairClient {
 public:
  // `metrics` (may be null) counts failed requests and failovers.
  PairClient(const meta::Pair& pair, int io_timeout_ms, int retry_ms,
             ClientMetrics* metrics = nullptr);

  const meta::Pair& pair() const { return pair_; }
  // One region-sized write, tried on `first` then on the other member.
  Status WritePart(int first, uint64_t dev_offset, std::string data);
  // Many small writes, each inside one region, in one call; the same failover.
  Status WriteBatch(int first, const chunk::WriteBatchRequest& req);
  // A read of at most kMaxIoSize, tried on `first` (-1: alternating
  // members) then on the other member. `out` takes the reply's own buffer.
  Status ReadPart(int first, uint64_t dev_offset, uint64_t length, std::string* out);
  // "writes sent first to A 10, to B 12; failed over 0": tests check that
  // both members received client writes.
  std::string WriteCounters() const;
  // fdatasync on both members.
  Status Flush();

 private:
  template <typename Fn>
  Status WithFailover(int first, const char* what, Fn&& fn);
  // How long a member that failed is tried second: 4 io timeouts, at least 5 s.
  int64_t AvoidNs() const;

  meta::Pair pair_;
  ClientMetrics* const metrics_;
  int io_timeout_ms_;
  int retry_ms_;
  std::unique_ptr<chunk::Chunk::Stub> stubs_[2];
  std::atomic<uint64_t> next_read_{0};
  std::atomic<uint64_t> writes_first_[2] = {0, 0};
  std::atomic<uint64_t> write_failovers_{0};
  // Steady-clock ns until which each member is tried second; 0: not avoided.
  std::atomic<int64_t> avoid_until_ns_[2] = {0, 0};
};

// A write part this small may be batched with others (ChunkPool::Write).
inline constexpr uint64_t kBatchablePart = 64 << 10;

// All pairs of the cluster, by pair id, refreshed from meta when an unknown
// id shows up.
class ChunkPool {
 public:
  // prefer_member: -1 sends each request first to the member that sequences
  // its region; 0 or 1 sends every request first to A or B (the other
  // member forwards), which tests use to make writes conflict.
  explicit ChunkPool(MetaClient* meta, int prefer_member = -1, ClientMetrics* metrics = nullptr);
  ~ChunkPool();  // logs the write counters of each pair

  // Writes a planned piece (zero padding included), in parallel per region.
  Status Write(const WritePiece& piece);
  // The same for bytes the caller hands over: a write that is one request
  // sends them without another copy.
  Status Write(uint32_t pair, uint64_t dev_offset, std::string bytes);
  // Write-behind of a piece of one part of at most kBatchablePart, without
  // a thread of the caller's: it joins the other small writes queued for the
  // same member and goes out in one WriteBatch call (see Combiner). `done`
  // runs once the piece is on both members, or failed. False (and `done`
  // not called) for a larger piece: the caller writes it with Write.
  bool WriteBatched(const WritePiece& piece, std::function<void(Status)> done);
  Status Read(uint32_t pair, uint64_t dev_offset, uint64_t length, char* out);
  // A read of at most kMaxIoSize that replaces `out` with the reply's
  // buffer: no copy and no zero fill on the client.
  Status Read(uint32_t pair, uint64_t dev_offset, uint64_t length, std::string* out);
  Status Flush(uint32_t pair);
  // Small writes queued for a batch, over every member.
  uint64_t QueuedSmallWrites();

 private:
  Result<std::shared_ptr<PairClient>> Get(uint32_t pair);
  // Writes [dev_offset, dev_offset+length) of pair as parallel requests;
  // bytes(from, len) gives the request bytes at `from` within the write.
  Status WriteParts(uint32_t pair, uint64_t dev_offset, uint64_t length,
                    const std::function<std::string(uint64_t, uint64_t)>& bytes);
  Status Refresh();

  // Group commit of small writes, one per (pair, member): a write that
  // finds no call in flight starts a drain, which sends what is queued as
  // one batch and then starts the next drain, until the queue is empty. A
  // batch goes out as soon as the previous one is answered, so batches grow
  // with load; a writer never waits, and queueing wakes no thread per write.
  struct BatchEntry {
    std::shared_ptr<PairClient> pair;
    uint64_t dev_offset;
    std::string data;
    std::function<void(Status)> done;
  };
  struct Combiner {
    std::mutex mu;
    std::deque<BatchEntry> queue;
    bool sending = false;
  };
  void Drain(Combiner* c, int member);

  MetaClient* meta_;
  const int prefer_member_;
  ClientMetrics* const metrics_;
  std::shared_mutex mu_;
  std::map<uint32_t, std::shared_ptr<PairClient>> pairs_;
  // Runs the parallel parts of a write; its tasks never wait on each other.
  WorkerPool parts_pool_{16};
  std::mutex combiners_mu_;
  std::map<std::pair<uint32_t, int>, std::unique_ptr<Combiner>> combiners_;
  // Runs the drains of the combiners, at most one per combiner. Declared
  // last: it is joined before the combiners its drains use go away.
  WorkerPool drain_pool_{8};
};

// True for failures worth trying on the other member.
bool IsMemberFailure(const Status& s);

}  // namespace scalefs
