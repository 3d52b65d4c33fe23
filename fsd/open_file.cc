#include "fsd/open_file.h"
#include "fsd/test_faults.h"

#include <glog/logging.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <limits>
#include <vector>

#include "common/layout.h"

namespace scalefs {

namespace {
// A read that misses the cached map fetches at least this much of it.
constexpr uint64_t kExtentFetchWindow = 16 << 20;

// Runs fn(i) for i in [0, n), all but the first on other threads.
template <typename Fn>
Status RunParallel(size_t n, Fn&& fn) {
  if (n == 0) return Status::OK();
  std::vector<std::future<Status>> rest;
  for (size_t i = 1; i < n; ++i) rest.push_back(std::async(std::launch::async, fn, i));
  Status result = fn(size_t{0});
  for (auto& f : rest) {
    Status s = f.get();
    if (result.ok()) result = s;
  }
  return result;
}
}  // namespace

namespace {
std::atomic<uint64_t> g_alloc_epoch{0};
void BumpEpoch() { g_alloc_epoch.fetch_add(1); }
}  // namespace

uint64_t AllocationEpoch() { return g_alloc_epoch.load(); }

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<ExtentRecord> ToRecords(const meta::ExtentsReply& rep) {
  std::vector<ExtentRecord> out;
  out.reserve(rep.extents_size());
  for (const meta::Extent& e : rep.extents()) {
    out.push_back({e.file_offset(), e.length(), e.pair(), e.dev_offset(), e.written()});
  }
  return out;
}

OpenFile::OpenFile(uint64_t ino, MetaClient* meta, ChunkPool* pool, WorkerPool* behind)
    : ino_(ino), meta_(meta), pool_(pool), behind_pool_(behind) {}

MapStamp OpenFile::Stamp() const { return {AllocationEpoch(), commits_.load()}; }

void OpenFile::Refresh(const meta::Attr& attr, const meta::ExtentsReply* extents,
                       uint64_t window, MapStamp stamp) {
  std::unique_lock io(io_mu_);
  std::lock_guard lock(mu_);
  cache_.Clear();
  TakeMetaSizeLocked(attr);
  // Writers hold io_mu_ across Allocate and bump the epoch after it, and a
  // commit counts before it returns: an unchanged stamp means no allocation
  // or commit of ours may be missing from the map.
  if (extents != nullptr && window != 0 && stamp == Stamp()) {
    cache_.Insert(ToRecords(*extents), 0, window);
  }
}

void OpenFile::InsertExtents(const meta::ExtentsReply& rep, uint64_t offset, uint64_t length) {
  std::lock_guard lock(mu_);
  cache_.Insert(ToRecords(rep), offset, length);
  if (!rep.has_attr()) return;
  TakeMetaSizeLocked(rep.attr());
  const uint64_t gen = rep.attr().alloc_gen();
  if (alloc_gen_ != 0 && gen != alloc_gen_ + 1) alloc_shared_ = true;
  alloc_gen_ = gen;
}

bool OpenFile::OwnsUnwrittenTailLocked(uint64_t offset, uint64_t length) const {
  const uint64_t eof = RoundUp(std::max(meta_size_, local_size_), kBlockSize);
  for (const MappedPiece& p : cache_.Map(offset, length)) {
    if (!p.extent || p.extent->written) continue;
    const uint64_t end = RoundUp(p.file_offset + p.length, kBlockSize);
    const uint64_t from = std::max(RoundDown(p.file_offset, kBlockSize), eof);
    // A sequential writer's usual case, all of it allocated ahead: one lookup.
    if (from >= end || ahead_.Contains(from, end - from)) continue;
    for (uint64_t b = from; b < end; b += kBlockSize) {
      if (!ahead_.Contains(b, kBlockSize) && !pending_.Contains(b, kBlockSize)) return false;
    }
  }
  return true;
}

bool OpenFile::BlockWrittenLocked(uint64_t block, const ExtentRecord& ext) const {
  return ext.written || pending_.Contains(block, kBlockSize);
}

void OpenFile::TakeMetaSizeLocked(const meta::Attr& attr) {
  if (attr.ctime_ns() < meta_ctime_) return;
  meta_size_ = attr.size();
  meta_ctime_ = attr.ctime_ns();
}

void OpenFile::AdjustAttr(meta::Attr* attr) {
  std::lock_guard lock(mu_);
  TakeMetaSizeLocked(*attr);
  attr->set_size(std::max(meta_size_, local_size_));
  if (!pending_.empty() && last_write_ns_ > attr->mtime_ns()) {
    attr->set_mtime_ns(last_write_ns_);
    attr->set_ctime_ns(std::max(attr->ctime_ns(), last_write_ns_));
  }
}

Status OpenFile::Read(uint64_t offset, uint64_t size, std::string* out) {
  std::shared_lock io(io_mu_);
  // Writers hold io_mu_ while they queue: a transfer queued before this read
  // is in behind_ now, and the read must see its bytes.
  WaitBehind(RoundDown(offset, kBlockSize), RoundUp(offset + size, kBlockSize));
  out->clear();
  uint64_t file_size;
  std::vector<ByteSpan> unknown;
  {
    std::lock_guard lock(mu_);
    file_size = std::max(meta_size_, local_size_);
    if (offset >= file_size || size == 0) return Status::OK();
    size = std::min(size, file_size - offset);
    unknown = cache_.Unknown(offset, size);
  }
  if (!unknown.empty()) {
    const uint64_t start = RoundDown(unknown.front().offset, kBlockSize);
    const uint64_t end = std::max(RoundUp(unknown.back().end(), kBlockSize),
                                  std::min(RoundUp(file_size, kBlockSize),
                                           start + kExtentFetchWindow));
    auto rep = meta_->GetExtents(ino_, start, end - start);
    if (!rep.ok()) return rep.status();
    std::lock_guard lock(mu_);
    cache_.Insert(ToRecords(*rep), start, end - start);
    // Meta's size may have moved; the reply is newer than what we held.
    if (rep->has_attr()) TakeMetaSizeLocked(rep->attr());
  }
  std::vector<ReadPiece> plan;
  {
    std::lock_guard lock(mu_);
    plan = PlanRead(offset, size, cache_.Map(offset, size), pending_);
  }
  if (plan.size() == 1 && !plan[0].zeros && plan[0].buf_offset == 0 && plan[0].length == size &&
      size <= kMaxIoSize) {
    // The common case, one run on one pair: the reply's buffer is the result.
    return pool_->Read(plan[0].pair, plan[0].dev_offset, size, out);
  }
  out->resize(size);
  std::vector<const ReadPiece*> reads;
  for (const ReadPiece& p : plan) {
    if (p.zeros) {
      memset(out->data() + p.buf_offset, 0, p.length);
    } else {
      reads.push_back(&p);
    }
  }
  return RunParallel(reads.size(), [&](size_t i) {
    const ReadPiece& p = *reads[i];
    return pool_->Read(p.pair, p.dev_offset, p.length, out->data() + p.buf_offset);
  });
}

Status OpenFile::Write(uint64_t offset, std::string_view data, bool through) {
  if (data.empty()) return Status::OK();
  changes_.fetch_add(1, std::memory_order_acq_rel);
  std::unique_lock io(io_mu_);
  {
    std::lock_guard lock(behind_mu_);
    if (!behind_error_.ok()) return behind_error_;
  }
  if (behind_pool_ == nullptr) through = true;
  const uint64_t end = offset + data.size();
  bool allocated;
  {
    std::lock_guard lock(mu_);
    allocated = cache_.Allocated(offset, data.size()) &&
                OwnsUnwrittenTailLocked(offset, data.size());
  }
  if (!allocated) {
    // A writer reaching the end of the file (past its first MiB) gets space
    // ahead too, twice what it has up to kMaxAllocateAhead, in one call;
    // what it does not write is given back at close (Commit with trim).
    uint64_t alloc_end = RoundUp(end, kBlockSize);
    {
      std::lock_guard lock(mu_);
      const uint64_t file_end = std::max(meta_size_, local_size_);
      if (end >= file_end && end >= (1 << 20)) {
        const uint64_t ahead = std::min(RoundUp(end, 1 << 20), kMaxAllocateAhead);
        alloc_end = RoundUp(end + ahead, 1 << 20);
      }
    }
    const uint64_t start = RoundDown(offset, kBlockSize);
    auto rep = meta_->Allocate(ino_, start, alloc_end - start, false);
    if (!rep.ok() && rep.status().code() == Status::Code::kNoSpace &&
        alloc_end > RoundUp(end, kBlockSize)) {
      // Nearly full: the write alone may still fit.
      alloc_end = RoundUp(end, kBlockSize);
      rep = meta_->Allocate(ino_, start, alloc_end - start, false);
    }
    BumpEpoch();
    if (!rep.ok()) return rep.status();
    InsertExtents(*rep, start, alloc_end - start);
    if (alloc_end > RoundUp(end, kBlockSize)) {
      std::lock_guard lock(mu_);
      ahead_.Add(RoundUp(end, kBlockSize), alloc_end - RoundUp(end, kBlockSize));
    }
  }
  std::vector<WritePiece> pieces;
  {
    std::lock_guard lock(mu_);
    std::vector<MappedPiece> map = cache_.Map(offset, data.size());
    for (const MappedPiece& p : map) {
      if (!p.extent) {
        return Status::IoError("meta left a hole at " + std::to_string(p.file_offset) +
                               " of inode " + std::to_string(ino_) + " after Allocate");
      }
    }
    pieces = PlanWrite(offset, data, map, [this](uint64_t block, const ExtentRecord& ext) {
      return BlockWrittenLocked(block, ext);
    });
  }
  const uint64_t begin = RoundDown(offset, kBlockSize), block_end = RoundUp(end, kBlockSize);
  if (through) {
    WaitBehind(begin, block_end);
    Status s = RunParallel(pieces.size(), [&](size_t i) { return pool_->Write(pieces[i]); });
    if (!s.ok()) return s;
  } else {
    // In order with the transfers it overlaps (a partial block planned
    // without zero padding relies on an earlier write reaching the block
    // first), and within the window.
    {
      std::unique_lock lock(behind_mu_);
      behind_cv_.wait(lock, [&] {
        if (behind_bytes_ > 0 && behind_bytes_ + (block_end - begin) > kWriteBehindBytes) {
          return false;
        }
        return !BehindOverlapsLocked(begin, block_end);
      });
      // After a failure, no later write is queued: the transfer it overlaps
      // and waited for may be the one that failed, and a partial block
      // planned on top of it would expose what the block held before.
      if (!behind_error_.ok()) return behind_error_;
      behind_[begin] = block_end;
      behind_bytes_ += block_end - begin;
    }
    RunBehind(begin, pieces);
  }
  bool commit_now;
  {
    std::lock_guard lock(mu_);
    for (const WritePiece& p : pieces) {
      const uint64_t b = RoundDown(p.file_offset, kBlockSize);
      const uint64_t e = RoundUp(p.file_offset + p.length(), kBlockSize);
      pending_.Add(b, e - b);
      ahead_.Remove(b, e - b);
      touched_pairs_.insert(p.pair);
    }
    local_size_ = std::max(local_size_, end);
    last_write_ns_ = NowNs();
    commit_now = pending_.bytes() >= kCommitThreshold;
  }
  return commit_now ? CommitLocked() : Status::OK();
}

bool OpenFile::BehindOverlapsLocked(uint64_t begin, uint64_t end) const {
  auto it = behind_.lower_bound(begin);
  if (it != behind_.end() && it->first < end) return true;
  return it != behind_.begin() && std::prev(it)->second > begin;
}

void OpenFile::RunBehind(uint64_t begin, const std::vector<WritePiece>& pieces) {
  if (pieces.empty()) return EndBehind(begin, Status::OK());  // nothing to wait for
  // The transfer ends when its last piece does.
  struct Transfer {
    std::mutex mu;
    size_t left;
    Status status;
  };
  auto t = std::make_shared<Transfer>();
  t->left = pieces.size();
  auto piece_done = [self = shared_from_this(), begin, t](Status s) {
    {
      std::lock_guard lock(t->mu);
      if (t->status.ok()) t->status = s;
      if (--t->left > 0) return;
    }
    self->EndBehind(begin, t->status);
  };
  for (const WritePiece& p : pieces) {
    // A small piece is queued without a thread: a busy writer wakes nobody.
    if (pool_->WriteBatched(p, piece_done)) continue;
    // The caller's bytes are gone once it returns: the one copy made here,
    // zero padding included, is what goes out in the request.
    behind_pool_->Submit([pool = pool_, pair = p.pair, dev_offset = p.dev_offset,
                          bytes = p.Bytes(0, p.length()), piece_done]() mutable {
      piece_done(pool->Write(pair, dev_offset, std::move(bytes)));
    });
  }
}

void OpenFile::EndBehind(uint64_t begin, const Status& s) {
  std::lock_guard lock(behind_mu_);
  auto it = behind_.find(begin);
  if (!s.ok()) {
    LOG(ERROR) << "write-behind to inode " << ino_ << ": " << s.ToString();
    if (behind_error_.ok()) behind_error_ = s;
    behind_failed_.Add(it->first, it->second - it->first);
  }
  behind_bytes_ -= it->second - it->first;
  behind_.erase(it);
  behind_cv_.notify_all();
}

void OpenFile::WaitBehind(uint64_t begin, uint64_t end) {
  std::unique_lock lock(behind_mu_);
  behind_cv_.wait(lock, [&] { return !BehindOverlapsLocked(begin, end); });
}

Status OpenFile::DrainBehind() {
  RangeSet failed;
  Status s;
  {
    std::unique_lock lock(behind_mu_);
    behind_cv_.wait(lock, [&] { return behind_.empty(); });
    s = behind_error_;
    behind_error_ = Status::OK();
    std::swap(failed, behind_failed_);
  }
  if (!s.ok()) {
    // Never tell meta these blocks hold data: they may hold another file's.
    std::lock_guard lock(mu_);
    for (const ByteSpan& f : failed.Spans()) {
      pending_.Remove(f.offset, f.length);
    }
  }
  return s;
}

Status OpenFile::CommitLocked(Trim trim) {
  {
    Status s = DrainBehind();
    if (!s.ok()) return s;
  }
#ifdef SCALEFS_TEST_FAULTS
  if (TestFault("skip_commit")) {
    // The deliberate bug: forget what was written, tell meta nothing.
    std::lock_guard lock(mu_);
    pending_.Clear();
    local_size_ = 0;
    return Status::OK();
  }
#endif
  meta::CommitRequest req;
  bool trimming = false;
  {
    std::lock_guard lock(mu_);
    trimming = trim == Trim::kWithWrites && !ahead_.empty() && !pending_.empty() &&
               !alloc_shared_;
    if (pending_.empty() && !trimming) return Status::OK();
    req.set_ino(ino_);
    for (const ByteSpan& s : pending_.Spans()) {
      meta::ByteRange* r = req.add_written();
      r->set_offset(s.offset);
      r->set_length(s.length);
    }
    if (!pending_.empty()) {
      req.set_new_size(local_size_);
      req.set_mtime_ns(last_write_ns_);
    }
    if (trimming) {
      req.set_alloc_gen(alloc_gen_);
      for (const ByteSpan& s : ahead_.Spans()) {
        meta::ByteRange* r = req.add_trim();
        r->set_offset(s.offset);
        r->set_length(s.length);
      }
    }
  }
  auto rep = meta_->Commit(req);
  if (trimming) {
    // Meta may have freed blocks the cached map names.
    BumpEpoch();
    std::lock_guard lock(mu_);
    cache_.Clear();
    if (rep.ok()) {
      ahead_.Clear();
      alloc_gen_ = 0;
      alloc_shared_ = false;
    }
  }
  if (!rep.ok()) return rep.status();
  std::lock_guard lock(mu_);
  // Meta marked them written: so does the cache, and they leave pending_.
  for (const ByteSpan& s : pending_.Spans()) cache_.MarkWritten(s.offset, s.length);
  if (!pending_.empty()) commits_.fetch_add(1);
  pending_.Clear();
  local_size_ = 0;
  TakeMetaSizeLocked(rep->attr());
  return Status::OK();
}

Status OpenFile::Commit(Trim trim) {
  std::unique_lock io(io_mu_);
  return CommitLocked(trim);
}

AheadSpace OpenFile::TakeAhead() {
  std::unique_lock io(io_mu_);
  std::lock_guard lock(mu_);
  AheadSpace out;
  if (!alloc_shared_ && alloc_gen_ != 0) {
    out.alloc_gen = alloc_gen_;
    for (const ByteSpan& s : ahead_.Spans()) {
      meta::ByteRange& r = out.ranges.emplace_back();
      r.set_offset(s.offset);
      r.set_length(s.length);
    }
  }
  ahead_.Clear();
  alloc_gen_ = 0;
  alloc_shared_ = false;
  return out;
}

void OpenFile::AddAhead(const AheadSpace& space) {
  if (space.ranges.empty()) return;
  std::unique_lock io(io_mu_);
  std::lock_guard lock(mu_);
  for (const meta::ByteRange& r : space.ranges) ahead_.Add(r.offset(), r.length());
  alloc_gen_ = space.alloc_gen;
  alloc_shared_ = false;
}

void OpenFile::Preallocated(const meta::AttrReply& created) {
  if (created.extents().empty()) return;
  meta::ExtentsReply rep;
  *rep.mutable_extents() = created.extents();
  *rep.mutable_attr() = created.attr();
  uint64_t end = 0;
  for (const meta::Extent& e : created.extents()) end = std::max(end, e.file_offset() + e.length());
  std::unique_lock io(io_mu_);
  // As after an Allocate, without Refresh's epoch check: the inode is new,
  // and the only allocation change to it so far is this one.
  InsertExtents(rep, 0, end);
  std::lock_guard lock(mu_);
  ahead_.Add(0, end);
}

Status OpenFile::Sync() {
  std::unique_lock io(io_mu_);
  {
    Status s = DrainBehind();
    if (!s.ok()) return s;
  }
  std::vector<uint32_t> pairs;
  {
    std::lock_guard lock(mu_);
    pairs.assign(touched_pairs_.begin(), touched_pairs_.end());
  }
  Status s = RunParallel(pairs.size(), [&](size_t i) { return pool_->Flush(pairs[i]); });
  if (!s.ok()) return s;
  s = CommitLocked();
  if (!s.ok()) return s;
  std::lock_guard lock(mu_);
  for (uint32_t p : pairs) touched_pairs_.erase(p);
  return Status::OK();
}

Result<meta::AttrReply> OpenFile::Truncate(const meta::SetAttrRequest& req) {
  changes_.fetch_add(1, std::memory_order_acq_rel);
  std::unique_lock io(io_mu_);
  Status s = CommitLocked();
  if (!s.ok()) return s;
  s = ZeroTailBlock(meta_, pool_, ino_, req.size());
  if (!s.ok()) return s;
  auto rep = meta_->SetAttr(req);
  BumpEpoch();
  std::lock_guard lock(mu_);
  // Whatever happened, the cached map may now name freed blocks.
  cache_.Clear();
  const uint64_t keep = RoundUp(req.size(), kBlockSize);
  // What became of the space allocated ahead: a truncate that frees moves
  // alloc_gen on by one; one that does not leaves it.
  const uint64_t gen = rep.ok() ? rep->attr().alloc_gen() : 0;
  if (alloc_gen_ != 0 && gen == alloc_gen_ + 1) {
    // The file shrank: meta freed everything past the new end.
    ahead_.Remove(keep, std::numeric_limits<uint64_t>::max() - keep);
    alloc_gen_ = gen;
  } else if (alloc_gen_ != 0 && gen != alloc_gen_) {
    // Failed, or another client's change came between: never trim it.
    ahead_.Clear();
    alloc_gen_ = 0;
    alloc_shared_ = false;
  }
  if (!rep.ok()) return rep;
  TakeMetaSizeLocked(rep->attr());
  local_size_ = 0;
  return rep;
}

Result<meta::AttrReply> OpenFile::Fallocate(uint64_t offset, uint64_t length, bool keep_size) {
  changes_.fetch_add(1, std::memory_order_acq_rel);
  std::unique_lock io(io_mu_);
  {
    Status s = DrainBehind();
    if (!s.ok()) return s;
  }
  auto rep = meta_->Allocate(ino_, offset, length, !keep_size);
  BumpEpoch();
  if (!rep.ok()) return rep.status();
  const uint64_t start = RoundDown(offset, kBlockSize);
  InsertExtents(*rep, start, RoundUp(offset + length, kBlockSize) - start);
  meta::AttrReply out;
  *out.mutable_attr() = rep->attr();
  return out;
}

Status ZeroTailBlock(MetaClient* meta, ChunkPool* pool, uint64_t ino, uint64_t size) {
  if (size % kBlockSize == 0) return Status::OK();
  const uint64_t block = RoundDown(size, kBlockSize);
  auto rep = meta->GetExtents(ino, block, kBlockSize);
  if (!rep.ok()) return rep.status();
  for (const ExtentRecord& r : ToRecords(*rep)) {
    if (!r.written || r.file_offset > block || r.end() < block + kBlockSize) continue;
    WritePiece w;
    w.pair = r.pair;
    w.file_offset = size;
    w.dev_offset = r.dev_offset + (size - r.file_offset);
    w.tail_zeros = block + kBlockSize - size;
    return pool->Write(w);
  }
  return Status::OK();
}

std::shared_ptr<OpenFile> OpenFileTable::Acquire(uint64_t ino) {
  std::lock_guard lock(mu_);
  auto& entry = files_[ino];
  if (!entry.first) {
    entry.first = std::make_shared<OpenFile>(ino, meta_, pool_, &behind_);
    // Under mu_, as Release queues it: no trim may free space this open is
    // about to write into, and the release never reaches meta after it.
    entry.first->AddAhead(trims_.Take(ino));
  }
  entry.second++;
  return entry.first;
}

std::vector<uint64_t> OpenFileTable::OpenInodes() {
  std::vector<uint64_t> out = trims_.Pending();
  std::lock_guard lock(mu_);
  for (const auto& [ino, entry] : files_) out.push_back(ino);
  return out;
}

void OpenFileTable::Release(uint64_t ino) {
  std::lock_guard lock(mu_);
  auto it = files_.find(ino);
  if (it == files_.end()) return;
  if (--it->second.second <= 0) {
    trims_.Add(ino, it->second.first->TakeAhead());
    files_.erase(it);
  }
}

std::shared_ptr<OpenFile> OpenFileTable::Find(uint64_t ino) {
  std::lock_guard lock(mu_);
  auto it = files_.find(ino);
  return it == files_.end() ? nullptr : it->second.first;
}

}  // namespace scalefs
