// The extent operations of MetaStore: allocation (spilling to other pairs
// when a file's pair is full), extent maps, commits of written data, and
// releases of closed files with the space they allocated and did not write.
#include <sys/stat.h>

#include <algorithm>

#include <glog/logging.h>

#include "common/layout.h"
#include "meta/keys.h"
#include "meta/meta_store.h"
#include "meta/prefix_iterator.h"
#include "meta/txn.h"

namespace scalefs::meta {

Result<std::vector<MetaStore::PlacedRun>> MetaStore::PlaceLocked(Txn* txn, uint32_t pair,
                                                                 uint64_t bytes, uint64_t hint) {
  std::vector<PlacedRun> out;
  auto take = [&](uint32_t p, uint64_t n, uint64_t h) -> Status {
    Result<std::vector<SpaceAllocator::Run>> runs = space_.Allocate(p, n, h, &txn->batch);
    if (!runs.ok()) return runs.status();
    txn->space_changed = true;
    for (const SpaceAllocator::Run& r : *runs) out.push_back({p, r.dev_offset, r.length});
    return Status::OK();
  };
  if (space_.Allocatable(pair) >= bytes) {
    Status s = take(pair, bytes, hint);
    if (!s.ok()) return s;
    return out;
  }
  // The layout's pair is full (or draining, or removed: Allocatable is 0):
  // the space goes where there is room, so ENOSPC means the whole
  // filesystem is full. The extent records where it went.
  std::vector<uint32_t> others;
  uint64_t total = space_.Allocatable(pair);
  for (const auto& [id, p] : pairs_) {
    if (id == pair) continue;
    others.push_back(id);
    total += space_.Allocatable(id);
  }
  if (total < bytes) {
    return Status::NoSpace("filesystem full: " + std::to_string(bytes) + " bytes asked, " +
                           std::to_string(total) + " free on all pairs");
  }
  std::stable_sort(others.begin(), others.end(), [&](uint32_t a, uint32_t b) {
    return space_.Allocatable(a) > space_.Allocatable(b);
  });
  if (space_.Allocatable(others.front()) >= bytes) {
    Status s = take(others.front(), bytes, SpaceAllocator::kNoHint);
    if (!s.ok()) return s;
    return out;
  }
  // No one pair has room for all of it: what each has, the layout's first.
  others.insert(others.begin(), pair);
  uint64_t left = bytes;
  for (uint32_t p : others) {
    const uint64_t n = std::min(left, RoundDown(space_.Allocatable(p), kBlockSize));
    if (n == 0) continue;
    Status s = take(p, n, p == pair ? hint : SpaceAllocator::kNoHint);
    if (!s.ok()) return s;
    left -= n;
    if (left == 0) break;
  }
  return out;
}

Result<uint64_t> MetaStore::AllocateHoles(Txn* txn, const Layout& layout, uint64_t start,
                                          uint64_t end, std::map<uint64_t, Extent>* cur) {
  const uint64_t unit = layout.unit();
  const uint64_t width = layout.pairs_size();
  uint64_t allocated = 0;
  for (uint64_t u = start / unit; start < end && u <= (end - 1) / unit; u++) {
    const uint64_t us = std::max(start, u * unit);
    const uint64_t ue = std::min(end, (u + 1) * unit);
    const uint32_t pair = layout.pairs(StripeSlot(u * unit, unit, width));
    uint64_t pos = us;
    while (pos < ue) {
      auto it = cur->upper_bound(pos);
      if (it != cur->begin()) {
        const Extent& prev = std::prev(it)->second;
        if (prev.file_offset() + prev.length() > pos) {
          pos = prev.file_offset() + prev.length();
          continue;
        }
      }
      const uint64_t gap_end = (it != cur->end() && it->first < ue) ? it->first : ue;
      uint64_t hint = SpaceAllocator::kNoHint;
      for (auto b = it; b != cur->begin();) {
        --b;
        if (b->second.pair() == pair) {
          hint = b->second.dev_offset() + b->second.length();
          break;
        }
      }
      Result<std::vector<PlacedRun>> runs = PlaceLocked(txn, pair, gap_end - pos, hint);
      if (!runs.ok()) return runs.status();
      for (const PlacedRun& run : *runs) {
        (*cur)[pos] = MakeExtent(pos, run.length, run.pair, run.dev_offset, false);
        pos += run.length;
        allocated += run.length;
      }
    }
  }
  return allocated;
}

Status MetaStore::Allocate(const AllocateRequest& req, ExtentsReply* reply) {
  return Mutate(req.call(), reply, [&](Txn* txn) { return DoAllocate(txn, req, reply); });
}

Status MetaStore::DoAllocate(Txn* txn, const AllocateRequest& req, ExtentsReply* reply) {
  const uint64_t ino = req.ino(), offset = req.offset(), length = req.length();
  const bool set_size = req.set_size();
  if (offset + length < offset || offset + length > kMaxFileSize) {
    return Status(Status::Code::kTooBig, "range [" + std::to_string(offset) + ", +" +
                                             std::to_string(length) + ") is beyond any file");
  }
  Result<InodeRecord*> r = txn->Inode(ino);
  if (!r.ok()) return r.status();
  InodeRecord* rec = *r;
  if (!IsReg(*rec)) return Status::Invalid(InoStr(ino) + " is not a regular file");
  if (rec->layout().pairs_size() == 0) {
    // Created before any pair existed: lay it out now if it has no data.
    PrefixIterator it(db_.get(), rocksdb::ReadOptions(), ExtentPrefix(ino));
    it.Seek();
    if (it.Valid()) {
      return Status::Invalid(InoStr(ino) + " has extents but no layout");
    }
    if (pairs_.empty()) return Status::NoSpace("no storage pair registered");
    *rec->mutable_layout() = NewFileLayout(ino, Layout());
  }
  const Layout& layout = rec->layout();
  const uint64_t unit = layout.unit();
  if (unit == 0 || unit % kBlockSize != 0) return Status::Invalid(InoStr(ino) + " has a bad layout");
  // A pair of the layout that was removed since (scalefs pair remove) is
  // no error: PlaceLocked puts its units on the other pairs.
  const uint64_t width = layout.pairs_size();
  const uint64_t start = RoundDown(offset, kBlockSize);
  const uint64_t end = RoundUp(offset + length, kBlockSize);
  // Load one unit per pair before the range too: the hint for contiguity.
  uint64_t lo = RoundDown(start, unit);
  lo = lo >= width * unit ? lo - width * unit : 0;
  const uint64_t hi = RoundUp(end, unit);
  ExtentMap orig, cur;
  Status s = LoadExtents(db_.get(), rocksdb::ReadOptions(), ino, lo, hi, nullptr, &orig);
  if (!s.ok()) return s;
  cur = orig;
  Result<uint64_t> allocated = AllocateHoles(txn, layout, start, end, &cur);
  if (!allocated.ok()) return allocated.status();
  MergeExtents(&cur, unit);
  Attr* a = rec->mutable_attr();
  a->set_blocks(a->blocks() + *allocated / 512);
  // Even when nothing was allocated: the caller may now write into unwritten
  // space another client allocated ahead, which must no longer trim it.
  a->set_alloc_gen(a->alloc_gen() + 1);
  if (set_size && offset + length > a->size()) {
    const int64_t now = NowNs();
    a->set_size(offset + length);
    a->set_mtime_ns(now);
    a->set_ctime_ns(now);
  }
  for (Extent& e : Overlapping(cur, start, end)) *reply->add_extents() = std::move(e);
  *reply->mutable_attr() = *a;
  WriteExtentDiff(ino, orig, cur, &txn->batch);
  return Status::OK();
}

Result<ExtentList> MetaStore::GetExtents(uint64_t ino, uint64_t offset, uint64_t length) {
  DurableRead durable(this);
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  ExtentList out;
  Result<InodeRecord> r = ReadInode(db_.get(), ro, ino);
  Status s = r.status();
  if (s.ok()) {
    out.attr = r->attr();
    const uint64_t unit = UnitOf(*r);
    // length 0: the whole file.
    const uint64_t end = length == 0 || offset + length < offset ? ~uint64_t{0} : offset + length;
    ExtentMap m;
    s = LoadExtents(db_.get(), ro, ino, RoundDown(offset, unit), length == 0 ? 0 : end, nullptr,
                    &m);
    out.extents = Overlapping(m, offset, end);
  }
  db_->ReleaseSnapshot(snap);
  if (!s.ok()) return s;
  return out;
}

Status MetaStore::Commit(const CommitRequest& req, AttrReply* reply) {
  return Mutate(req.call(), reply, [&](Txn* txn) { return DoCommit(txn, req, reply); });
}

Status MetaStore::DoCommit(Txn* txn, const CommitRequest& req, AttrReply* reply) {
  const uint64_t ino = req.ino(), new_size = req.new_size(), trim_gen = req.alloc_gen();
  const int64_t mtime_ns = req.mtime_ns();
  const std::vector<ByteRange> written(req.written().begin(), req.written().end());
  const std::vector<ByteRange> trim(req.trim().begin(), req.trim().end());
  if (new_size > kMaxFileSize) {
    return Status(Status::Code::kTooBig, "size " + std::to_string(new_size) + " is beyond any file");
  }
  Result<InodeRecord*> r = txn->Inode(ino);
  if (!r.ok()) return r.status();
  InodeRecord* rec = *r;
  if (!IsReg(*rec)) return Status::Invalid(InoStr(ino) + " is not a regular file");
  const uint64_t unit = UnitOf(*rec);
  ExtentMap orig, cur;
  for (const ByteRange& br : written) {
    if (br.length() == 0) continue;
    if (br.offset() + br.length() < br.offset()) return Status::Invalid("range overflows");
    const uint64_t start = RoundDown(br.offset(), kBlockSize);
    const uint64_t end = RoundUp(br.offset() + br.length(), kBlockSize);
    Status s = LoadExtents(db_.get(), rocksdb::ReadOptions(), ino, RoundDown(start, unit), end,
                           &orig, &cur);
    if (!s.ok()) return s;
    // Every block must be allocated, or the client wrote where nothing was.
    uint64_t pos = start;
    for (auto it = cur.lower_bound(RoundDown(start, unit)); it != cur.end() && pos < end; ++it) {
      const Extent& e = it->second;
      if (e.file_offset() + e.length() <= pos) continue;
      if (e.file_offset() > pos) break;
      pos = e.file_offset() + e.length();
    }
    if (pos < end) {
      return Status::Invalid("commit of " + InoStr(ino) + " range [" + std::to_string(pos) +
                             ", " + std::to_string(end) + ") that has no extent");
    }
    // Split unwritten records at the range ends and mark the middle written.
    const std::vector<Extent> touched = UnwrittenOverlapping(cur, RoundDown(start, unit), start, end);
    for (const Extent& e : touched) {
      const uint64_t es = e.file_offset(), ee = es + e.length();
      const uint64_t ws = std::max(es, start), we = std::min(ee, end);
      cur.erase(es);
      if (es < ws) cur[es] = MakeExtent(es, ws - es, e.pair(), e.dev_offset(), false);
      cur[ws] = MakeExtent(ws, we - ws, e.pair(), e.dev_offset() + (ws - es), true);
      if (we < ee) cur[we] = MakeExtent(we, ee - we, e.pair(), e.dev_offset() + (we - es), false);
    }
  }
  Attr* a = rec->mutable_attr();
  if (new_size > a->size()) a->set_size(new_size);
  Status s;
  if (!trim.empty() && trim_gen == a->alloc_gen()) {
    s = FreeUnwrittenPastEof(txn, ino, rec, trim, &orig, &cur);
    if (!s.ok()) return s;
    a->set_alloc_gen(a->alloc_gen() + 1);
  }
  MergeExtents(&cur, unit);
  WriteExtentDiff(ino, orig, cur, &txn->batch);
  if (mtime_ns != 0) {
    a->set_mtime_ns(mtime_ns);
    a->set_ctime_ns(NowNs());
  }
  *reply->mutable_attr() = rec->attr();
  *reply->mutable_layout() = rec->layout();
  return Status::OK();
}

Status MetaStore::FreeUnwrittenPastEof(Txn* txn, uint64_t ino, InodeRecord* rec,
                                       const std::vector<ByteRange>& ranges,
                                       std::map<uint64_t, Extent>* orig,
                                       std::map<uint64_t, Extent>* cur) {
  const uint64_t unit = UnitOf(*rec);
  Attr* a = rec->mutable_attr();
  uint64_t freed = 0;
  const uint64_t eof = RoundUp(a->size(), kBlockSize);
  for (const ByteRange& br : ranges) {
    if (br.length() == 0 || br.offset() + br.length() < br.offset()) continue;
    const uint64_t start = std::max(RoundUp(br.offset(), kBlockSize), eof);
    const uint64_t end = RoundDown(br.offset() + br.length(), kBlockSize);
    if (start >= end) continue;
    Status s = LoadExtents(db_.get(), rocksdb::ReadOptions(), ino, RoundDown(start, unit), end,
                           orig, cur);
    if (!s.ok()) return s;
    const std::vector<Extent> touched = UnwrittenOverlapping(*cur, RoundDown(start, unit), start, end);
    for (const Extent& e : touched) {
      const uint64_t es = e.file_offset(), ee = es + e.length();
      const uint64_t fs = std::max(es, start), fe = std::min(ee, end);
      cur->erase(es);
      if (es < fs) (*cur)[es] = MakeExtent(es, fs - es, e.pair(), e.dev_offset(), false);
      if (fe < ee) (*cur)[fe] = MakeExtent(fe, ee - fe, e.pair(), e.dev_offset() + (fe - es), false);
      space_.Free(e.pair(), e.dev_offset() + (fs - es), fe - fs, &txn->batch);
      txn->space_changed = true;
      freed += fe - fs;
    }
  }
  if (freed != 0) a->set_blocks(a->blocks() - std::min<uint64_t>(a->blocks(), freed / 512));
  return Status::OK();
}

Status MetaStore::GiveBackLocked(Txn* txn, const FileRelease& t) {
  if (t.ranges().empty()) return Status::OK();
  Result<InodeRecord*> r = txn->Inode(t.ino());
  // Gone (unlinked since) or reused as something else: nothing to give back.
  if (!r.ok() && r.status().code() == Status::Code::kNotFound) return Status::OK();
  if (!r.ok()) return r.status();
  InodeRecord* rec = *r;
  if (!IsReg(*rec) || rec->attr().alloc_gen() != t.alloc_gen()) return Status::OK();
  rec->mutable_attr()->set_alloc_gen(t.alloc_gen() + 1);
  ExtentMap orig, cur;
  std::vector<ByteRange> ranges(t.ranges().begin(), t.ranges().end());
  Status s = FreeUnwrittenPastEof(txn, t.ino(), rec, ranges, &orig, &cur);
  if (!s.ok()) return s;
  MergeExtents(&cur, UnitOf(*rec));
  WriteExtentDiff(t.ino(), orig, cur, &txn->batch);
  return Status::OK();
}

Status MetaStore::Release(const ReleaseRequest& req) {
  MutationLock l(this);
  Txn txn(db_.get());
  // Lost in a crash, opens end with their session and the space stays
  // allocated past the end of the files: nothing waits for this sync.
  txn.needs_sync = false;
  bool changed = false;
  for (const FileRelease& f : req.files()) {
    // The last handle of the file on that client closed: an orphan nobody
    // holds open any more goes, with all its space.
    const bool last = req.session() != 0 && sessions_.DropOpen(req.session(), f.ino());
    Status s;
    if (last && orphans_.count(f.ino())) {
      s = DeleteInode(&txn, f.ino());
    } else if (!f.ranges().empty()) {
      s = GiveBackLocked(&txn, f);
    } else {
      continue;  // only the open ended: nothing to write (most closes of readers)
    }
    if (!s.ok()) return AbandonLocked(txn, s);
    changed = true;
  }
  return changed ? ApplyLocked(&txn) : Status::OK();
}

}  // namespace scalefs::meta
