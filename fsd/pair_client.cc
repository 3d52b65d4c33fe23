#include "fsd/pair_client.h"
#include "common/rpc_channel.h"

#include <gflags/gflags.h>
#include <glog/logging.h>

#include <algorithm>
#include <future>
#include <thread>
#include <vector>

#include "common/block_crc.h"
#include "common/layout.h"
#include "common/rpc_status.h"

DEFINE_int32(io_timeout_ms, 10000, "deadline of one chunk server request");
// 1 MiB: write-behind already keeps several 1 MiB writes of a file in
// flight, and on two cores each extra request costs more in wakeups and
// framing than its overlap gains (sequential write 300 -> 370 MB/s).
DEFINE_int32(io_split_kb, 1024,
             "a chunk write larger than this goes out as parallel requests of this size; "
             "0 = one request per 1 MiB device region");
DEFINE_int32(read_stripe_mb, 64,
             "reads of each run of this many MiB of a device go to one member, alternating; "
             "0 = alternate per request");
DEFINE_int32(io_retry_ms, 60000,
             "how long a chunk request keeps failing over between the members of a pair "
             "(a degraded pair refuses writes until meta grants one member)");

namespace scalefs {

bool IsMemberFailure(const Status& s) {
  return s.code() == Status::Code::kUnavailable || s.code() == Status::Code::kStale ||
         s.code() == Status::Code::kBusy;
}

namespace {
// Batches stay well inside kMaxMessageSize.
constexpr size_t kMaxBatchWrites = 256;
constexpr uint64_t kMaxBatchBytes = 1 << 20;
}  // namespace

PairClient::PairClient(const meta::Pair& pair, int io_timeout_ms, int retry_ms,
                       ClientMetrics* metrics)
    : pair_(pair), metrics_(metrics), io_timeout_ms_(io_timeout_ms), retry_ms_(retry_ms) {
  stubs_[0] = chunk::Chunk::NewStub(NewChannel(pair.address_a(), Role::kMember));
  stubs_[1] = chunk::Chunk::NewStub(NewChannel(pair.address_b(), Role::kMember));
}

namespace {
int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

int64_t PairClient::AvoidNs() const {
  return int64_t{std::max(5000, 4 * io_timeout_ms_)} * 1000000;
}

template <typename Fn>
Status PairClient::WithFailover(int first, const char* what, Fn&& fn) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(retry_ms_);
  const int64_t now = SteadyNs();
  // A member that failed lately goes second, so a frozen or dead member costs
  // one timeout per avoid period, not one per request.
  int member = first;
  if (avoid_until_ns_[first].load() > now && avoid_until_ns_[first ^ 1].load() <= now) {
    member ^= 1;
  }
  Status last;
  for (int attempt = 0;; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(io_timeout_ms_));
    const std::string& addr = member == 0 ? pair_.address_a() : pair_.address_b();
    const grpc::Status answer = fn(stubs_[member].get(), &ctx);
    if (!answer.ok() && metrics_ != nullptr) {
      metrics_->MemberError(pair_.name(), member, answer.error_code());
    }
    last = FromGrpc(answer, std::string("chunk ") + what + " " + addr);
    if (last.ok()) {
      if (avoid_until_ns_[member].load() != 0) avoid_until_ns_[member] = 0;
      return last;
    }
    if (!IsMemberFailure(last)) return last;
    avoid_until_ns_[member] = SteadyNs() + AvoidNs();
    if (std::chrono::steady_clock::now() >= give_up) break;
    LOG_EVERY_N(WARNING, 20) << "pair " << pair_.name() << ": " << last.ToString()
                             << "; trying the other member";
    member ^= 1;
    if (metrics_ != nullptr) metrics_->Failover(pair_.name());
    // Both members failed in a row: the pair may be waiting for meta's grant.
    if (attempt % 2 == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50 * attempt, 1000)));
    }
  }
  return Status::IoError(last.message());
}

Status PairClient::WritePart(int first, uint64_t dev_offset, std::string data) {
  chunk::WriteRequest req;
  req.set_offset(dev_offset);
  // The member checks these before it applies the bytes.
  for (uint32_t crc : PieceCrcs(dev_offset, data)) req.add_crc32c(crc);
  req.set_data(std::move(data));
  writes_first_[first].fetch_add(1, std::memory_order_relaxed);
  int attempts = 0;
  auto send = [&] {
    return WithFailover(first, "Write", [&](chunk::Chunk::Stub* stub, grpc::ClientContext* ctx) {
      ++attempts;
      chunk::WriteReply rep;
      return stub->Write(ctx, req, &rep);
    });
  };
  Status s = send();
  // Damaged on the way (the member applied nothing): sent once more.
  if (s.code() == Status::Code::kCorrupt) {
    LOG(WARNING) << "pair " << pair_.name() << ": " << s.ToString() << "; sending it again";
    s = send();
  }
  if (attempts > 1) write_failovers_.fetch_add(1, std::memory_order_relaxed);
  return s;
}

Status PairClient::WriteBatch(int first, const chunk::WriteBatchRequest& req) {
  writes_first_[first].fetch_add(req.ranges_size(), std::memory_order_relaxed);
  int attempts = 0;
  auto send = [&] {
    return WithFailover(first, "WriteBatch",
                        [&](chunk::Chunk::Stub* stub, grpc::ClientContext* ctx) {
                          ++attempts;
                          chunk::WriteReply rep;
                          return stub->WriteBatch(ctx, req, &rep);
                        });
  };
  Status s = send();
  if (s.code() == Status::Code::kCorrupt) {
    LOG(WARNING) << "pair " << pair_.name() << ": " << s.ToString() << "; sending it again";
    s = send();
  }
  if (attempts > 1) write_failovers_.fetch_add(1, std::memory_order_relaxed);
  return s;
}

std::string PairClient::WriteCounters() const {
  return "writes sent first to A " + std::to_string(writes_first_[0].load()) + ", to B " +
         std::to_string(writes_first_[1].load()) + "; failed over " +
         std::to_string(write_failovers_.load());
}

Status PairClient::ReadPart(int first, uint64_t dev_offset, uint64_t length, std::string* out) {
  // Whole blocks, with the member's checksum of each: checked here again, so
  // a block damaged after the member's own check (in its memory, on the way)
  // is read from the other member instead of reaching the page cache. A
  // file's space is allocated in whole blocks, so the rest of a block is ours.
  const uint64_t start = RoundDown(dev_offset, kBlockSize);
  const uint64_t end = RoundUp(dev_offset + length, kBlockSize);
  chunk::ReadRequest req;
  req.set_offset(start);
  req.set_length(end - start);
  req.set_with_crc32c(true);
  chunk::ReadReply rep;
  // Long runs from one member, as DRBD's striping read balancing: each
  // member's readahead sees a sequential stream, and both members serve.
  if (first < 0) {
    first = FLAGS_read_stripe_mb > 0
                ? static_cast<int>((dev_offset / (uint64_t(FLAGS_read_stripe_mb) << 20)) % 2)
                : static_cast<int>(next_read_.fetch_add(1) % 2);
  }
  int answered = first;
  auto read_from = [&](int member) {
    Status s =
        WithFailover(member, "Read", [&](chunk::Chunk::Stub* stub, grpc::ClientContext* ctx) {
          answered = static_cast<int>(stub == stubs_[1].get());
          return stub->Read(ctx, req, &rep);
        });
    // A member of before 0.17 sends no checksums.
    if (!s.ok() || rep.crc32c().empty()) return s;
    if (std::optional<uint64_t> bad =
            FirstMismatch(start, rep.data(), rep.crc32c().data(), rep.crc32c().size())) {
      return Status::Corrupt("block at device offset " + std::to_string(*bad) + " of member " +
                             std::string(answered == 0 ? "A" : "B") +
                             " arrived not matching the checksum it was sent with");
    }
    return s;
  };
  Status s = read_from(first);
  if (s.code() == Status::Code::kCorrupt) {
    // That member's copy is damaged (it mends it from its peer meanwhile):
    // the other member's copy answers, checked there too.
    const int bad = answered;
    if (metrics_ != nullptr) metrics_->BadBlockRead(pair_.name(), bad);
    LOG(WARNING) << "pair " << pair_.name() << ": " << s.ToString()
                 << "; reading the other member";
    s = read_from(bad ^ 1);
    if (s.code() == Status::Code::kCorrupt) {
      if (metrics_ != nullptr) metrics_->BadBlockRead(pair_.name(), bad ^ 1);
      LOG(ERROR) << "pair " << pair_.name() << ": both members' copies of [" << dev_offset
                 << ", +" << length << ") are damaged: " << s.ToString();
      return Status::IoError("both copies damaged: " + s.message());
    }
  }
  if (!s.ok()) return s;
  if (rep.data().size() != end - start) {
    return Status::IoError("chunk Read of pair " + pair_.name() + " returned " +
                           std::to_string(rep.data().size()) + " bytes, wanted " +
                           std::to_string(end - start));
  }
  if (start == dev_offset && end == dev_offset + length) {
    out->swap(*rep.mutable_data());
  } else {
    out->assign(rep.data(), dev_offset - start, length);
  }
  return Status::OK();
}

Status PairClient::Flush() {
  // Flush forwards to the peer itself; failover covers a dead member.
  return WithFailover(0, "Flush", [&](chunk::Chunk::Stub* stub, grpc::ClientContext* ctx) {
    chunk::FlushRequest req;
    chunk::FlushReply rep;
    return stub->Flush(ctx, req, &rep);
  });
}

ChunkPool::ChunkPool(MetaClient* meta, int prefer_member, ClientMetrics* metrics)
    : meta_(meta), prefer_member_(prefer_member), metrics_(metrics) {
  if (prefer_member_ >= 0) {
    LOG(INFO) << "sending every chunk request first to member " << (prefer_member_ == 0 ? "A" : "B");
  }
}

ChunkPool::~ChunkPool() {
  std::shared_lock lock(mu_);
  for (const auto& [id, pair] : pairs_) {
    LOG(INFO) << "pair " << pair->pair().name() << ": " << pair->WriteCounters();
  }
}

Status ChunkPool::Refresh() {
  auto pairs = meta_->PairList();
  if (!pairs.ok()) return pairs.status();
  std::unique_lock lock(mu_);
  for (const meta::Pair& p : *pairs) {
    auto it = pairs_.find(p.id());
    if (it != pairs_.end() && it->second->pair().address_a() == p.address_a() &&
        it->second->pair().address_b() == p.address_b()) {
      continue;
    }
    pairs_[p.id()] = std::make_shared<PairClient>(p, FLAGS_io_timeout_ms, FLAGS_io_retry_ms, metrics_);
  }
  return Status::OK();
}

Result<std::shared_ptr<PairClient>> ChunkPool::Get(uint32_t pair) {
  {
    std::shared_lock lock(mu_);
    auto it = pairs_.find(pair);
    if (it != pairs_.end()) return it->second;
  }
  Status s = Refresh();
  if (!s.ok()) return s;
  std::shared_lock lock(mu_);
  auto it = pairs_.find(pair);
  if (it == pairs_.end()) return Status::IoError("unknown pair " + std::to_string(pair));
  return it->second;
}

Status ChunkPool::Write(const WritePiece& piece) {
  return WriteParts(piece.pair, piece.dev_offset, piece.length(),
                    [&](uint64_t from, uint64_t len) { return piece.Bytes(from, len); });
}

Status ChunkPool::Write(uint32_t pair, uint64_t dev_offset, std::string bytes) {
  const uint64_t length = bytes.size();
  return WriteParts(pair, dev_offset, length, [&](uint64_t from, uint64_t len) {
    return from == 0 && len == length ? std::move(bytes) : bytes.substr(from, len);
  });
}

Status ChunkPool::WriteParts(uint32_t pair_id, uint64_t dev_offset, uint64_t length,
                             const std::function<std::string(uint64_t, uint64_t)>& bytes) {
  auto pc = Get(pair_id);
  if (!pc.ok()) return pc.status();
  std::shared_ptr<PairClient> pair = *pc;
  std::vector<DevicePart> parts;
  // Smaller requests in parallel: the member's local write, its replication
  // and the transfers overlap instead of following each other.
  const uint64_t split = FLAGS_io_split_kb > 0 ? uint64_t(FLAGS_io_split_kb) << 10 : kMaxIoSize;
  for (const DevicePart& p : SplitByRegion(dev_offset, length)) {
    for (uint64_t done = 0; done < p.length; done += split) {
      parts.push_back({p.dev_offset + done, std::min(split, p.length - done), p.member});
    }
  }
  if (parts.empty()) return Status::OK();
  // Each part's bytes are taken before any request goes out: bytes() may
  // hand over the caller's whole buffer when there is one part.
  std::vector<std::string> data;
  data.reserve(parts.size());
  for (const DevicePart& p : parts) data.push_back(bytes(p.dev_offset - dev_offset, p.length));
  auto write_part = [&](size_t i) {
    const int member = prefer_member_ >= 0 ? prefer_member_ : parts[i].member;
    return pair->WritePart(member, parts[i].dev_offset, std::move(data[i]));
  };
  std::vector<std::future<Status>> rest;
  for (size_t i = 1; i < parts.size(); ++i) {
    rest.push_back(parts_pool_.Submit([&write_part, i] { return write_part(i); }));
  }
  Status first = write_part(0);
  for (auto& f : rest) {
    Status s = f.get();
    if (first.ok()) first = s;
  }
  return first;
}

bool ChunkPool::WriteBatched(const WritePiece& piece, std::function<void(Status)> done) {
  if (piece.length() > kBatchablePart) return false;
  const std::vector<DevicePart> parts = SplitByRegion(piece.dev_offset, piece.length());
  if (parts.size() != 1) return false;
  auto pc = Get(piece.pair);
  if (!pc.ok()) {
    done(pc.status());
    return true;
  }
  const int member = prefer_member_ >= 0 ? prefer_member_ : parts[0].member;
  Combiner* c;
  {
    std::lock_guard lock(combiners_mu_);
    auto& slot = combiners_[{piece.pair, member}];
    if (!slot) slot = std::make_unique<Combiner>();
    c = slot.get();
  }
  {
    std::lock_guard lock(c->mu);
    c->queue.push_back({*pc, piece.dev_offset, piece.Bytes(0, piece.length()), std::move(done)});
    if (c->sending) return true;
    c->sending = true;
  }
  drain_pool_.Submit([this, c, member] { Drain(c, member); });
  return true;
}

uint64_t ChunkPool::QueuedSmallWrites() {
  std::lock_guard lock(combiners_mu_);
  uint64_t n = 0;
  for (auto& [key, c] : combiners_) {
    std::lock_guard l(c->mu);
    n += c->queue.size();
  }
  return n;
}

void ChunkPool::Drain(Combiner* c, int member) {
  // Started only with entries queued (sending stays set until it sees none).
  std::unique_lock lock(c->mu);
  // One batch goes through one PairClient: a refresh may have replaced it.
  const std::shared_ptr<PairClient> pair = c->queue.front().pair;
  std::vector<BatchEntry> batch;
  chunk::WriteBatchRequest req;
  uint64_t bytes = 0;
  while (!c->queue.empty() && batch.size() < kMaxBatchWrites &&
         bytes + c->queue.front().data.size() <= kMaxBatchBytes &&
         c->queue.front().pair == pair) {
    BatchEntry& e = c->queue.front();
    bytes += e.data.size();
    chunk::WriteRange* r = req.add_ranges();
    r->set_offset(e.dev_offset);
    for (uint32_t crc : PieceCrcs(e.dev_offset, e.data)) r->add_crc32c(crc);
    r->set_data(std::move(e.data));
    batch.push_back(std::move(e));
    c->queue.pop_front();
  }
  lock.unlock();
  const Status s = pair->WriteBatch(member, req);
  for (BatchEntry& e : batch) e.done(s);
  lock.lock();
  if (c->queue.empty()) {
    c->sending = false;  // the next write starts a drain
    return;
  }
  lock.unlock();
  // The next batch as a new task, not in a loop: under steady load a drain
  // never finds its queue empty, and with more combiners than drain threads
  // a looping drain would starve the others. An idle queue costs no task.
  drain_pool_.Submit([this, c, member] { Drain(c, member); });
}

Status ChunkPool::Read(uint32_t pair, uint64_t dev_offset, uint64_t length, char* out) {
  auto pc = Get(pair);
  if (!pc.ok()) return pc.status();
  // Not split: kernel readahead already keeps several reads in flight.
  std::string part;
  for (uint64_t done = 0; done < length;) {
    const uint64_t n = std::min(length - done, kMaxIoSize);
    Status s = (*pc)->ReadPart(prefer_member_, dev_offset + done, n, &part);
    if (!s.ok()) return s;
    memcpy(out + done, part.data(), n);
    done += n;
  }
  return Status::OK();
}

Status ChunkPool::Read(uint32_t pair, uint64_t dev_offset, uint64_t length, std::string* out) {
  if (length > kMaxIoSize) {
    return Status::Invalid("a single chunk read is at most " + std::to_string(kMaxIoSize) +
                           " bytes, not " + std::to_string(length));
  }
  auto pc = Get(pair);
  if (!pc.ok()) return pc.status();
  return (*pc)->ReadPart(prefer_member_, dev_offset, length, out);
}

Status ChunkPool::Flush(uint32_t pair) {
  auto pc = Get(pair);
  if (!pc.ok()) return pc.status();
  return (*pc)->Flush();
}

}  // namespace scalefs
