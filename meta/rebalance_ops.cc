// Moving a file's extents from one pair to another, online (scalefs
// rebalance, and pair drain which needs it): the move protocol, and the
// progress a running mover reports.
//
// THE MOVE PROTOCOL. Clients cache a file's extent map while they hold it
// open and write allocated blocks straight to the members, telling meta
// only at Commit; a truncate by path writes the tail block straight too. So
// meta moves a file only while no session holds it open, and makes sure no
// open can slip in unnoticed:
//
//  1. MoveBegin (one synced batch): a file no session holds open, not an
//     orphan, not moving, is chosen; space for its extents on the source
//     pair is allocated on the target pair, and a durable move record
//     (m<ino>: the spans from -> to, the file's alloc_gen and ctime) is
//     written with that allocation. The session table's gate arms:
//     from now on an open of the file (GetExtents with open_session, a
//     reclaim; a truncate by path registers an open first, see
//     fsd/node_ops.cc) *cancels the move* at once. The opener never waits,
//     gets the current (old) map, and the old blocks stay where they are.
//  2. The mover (the `scalefs rebalance` command, which carries the data:
//     meta never does) reads the written spans from either member of the
//     source pair, writes them to the target pair (both members acknowledge
//     before a write returns), reads back the CRC32C of every block from
//     *both* target members and compares them with the source bytes' CRCs.
//     It makes every such write within kMoverWindow of MoveBegin.
//  3. MoveCommit, one batch, atomic with respect to opens (SessionTable::
//     CommitMove holds the gate's mutex while the batch is written): only
//     if the gate was not cancelled, no session holds the file open, the
//     file's alloc_gen and ctime are those of the record and every source
//     span is still in the map as it was, does the batch point the spans at
//     the target, free the source blocks, bump alloc_gen (a trim computed
//     against the old map is skipped) and delete the record. Otherwise the
//     move is abandoned.
//
// Why a racing write is not lost: a write needs an open; an open before
// MoveBegin makes MoveBegin skip the file, an open after it cancels the move
// (the switch is refused, the client's writes stay in the old blocks that
// remain the file's), and an open after the switch reads the new map. Any
// other change of the file (a truncate, an Allocate or a Commit of a
// client that skipped the open) moves ctime or alloc_gen or the map, which
// the switch checks. Why freeing the old blocks at once is safe: no session
// had the file open since before MoveBegin, so no client holds the old map;
// the only other copies of maps are directory listings' (early reads),
// whose bytes a client uses only if GetExtents at open returns the same map
// (fsd/early_read.cc), which after the switch it does not.
//
// Abandoned moves (a cancelled or failed switch, the mover's request, a
// new rebalance run, a meta restart: the record is durable, the gate is
// not) keep their target space kMoveQuarantineNs (30 s) before it is freed:
// longer than the mover's window (5 s) plus the longest a write of it may
// take (it bounds its retries to 3 s), so a late write of a
// mover that does not yet know its move was abandoned never lands in space
// another file got. fsck counts that space as the move's. A meta restart
// abandons every move; the mover retries the file later.
#include <glog/logging.h>

#include <algorithm>
#include <chrono>

#include "common/layout.h"
#include "meta/keys.h"
#include "meta/meta_store.h"
#include "meta/txn.h"

namespace scalefs::meta {

namespace {
constexpr uint64_t kMaxMoveBytes = 16 << 20;
constexpr int64_t kMoveQuarantineNs = 30'000'000'000;
// A mover that has not reported for this long is gone (another may start).
constexpr auto kMoverLease = std::chrono::seconds(10);

int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void MetaStore::RetireMoveLocked(Txn* txn, uint64_t ino, const std::string& why) {
  auto it = moves_.find(ino);
  if (it == moves_.end() || it->second.abandoned_ns() != 0) return;
  it->second.set_abandoned_ns(WallNs());
  txn->batch.Put(MoveKey(ino), it->second.SerializeAsString());
  sessions_.EndMove(ino);
  LOG(INFO) << "move of inode " << ino << " abandoned: " << why;
}

Status MetaStore::MoveBegin(const MoveBeginRequest& req, MoveBeginReply* reply) {
  MutationLock l(this);
  const uint32_t from = req.from_pair(), to = req.to_pair();
  if (!pairs_.count(from)) return Status::NotFound("no pair with id " + std::to_string(from));
  if (!pairs_.count(to)) return Status::NotFound("no pair with id " + std::to_string(to));
  if (from == to) return Status::Invalid("a move from pair " + std::to_string(from) + " to itself");
  if (space_.Draining(to)) {
    return Status::Invalid("pair " + pairs_[to].name() + " is draining: nothing moves onto it");
  }
  if (sessions_.InGrace()) {
    return Status::Unavailable("meta restarted and waits for its clients to reclaim their opens");
  }
  const uint64_t budget =
      req.max_bytes() == 0 ? kMaxMoveBytes : std::min<uint64_t>(req.max_bytes(), kMaxMoveBytes);
  rocksdb::ReadOptions ro;
  const std::string prefix(1, kExtentTag);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  uint64_t chosen = 0;
  // From after_ino on, then from the start: a pass visits every file once.
  for (int pass = 0; pass < 2 && chosen == 0; pass++) {
    const uint64_t lo = pass == 0 ? req.after_ino() + 1 : 0;
    const uint64_t hi = pass == 0 ? ~uint64_t{0} : req.after_ino() + 1;
    for (it->Seek(ExtentPrefix(lo)); it->Valid() && it->key().starts_with(prefix);) {
      uint64_t ino, off;
      if (!ParseExtentKey(it->key().ToStringView(), &ino, &off)) return Status::IoError("bad extent key");
      if (ino >= hi) break;
      Extent e;
      e.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
      if (e.pair() != from) {
        it->Next();
        continue;
      }
      // A file with extents on `from`: movable now?
      if (moves_.count(ino) || orphans_.count(ino) || !sessions_.BeginMove(ino)) {
        reply->set_skipped_busy(reply->skipped_busy() + 1);
        it->Seek(ExtentPrefix(ino + 1));
        continue;
      }
      chosen = ino;
      break;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scan extents");
  }
  if (chosen == 0) return Status::OK();  // found = false
  const uint64_t ino = chosen;
  Txn txn(db_.get());
  auto fail = [&](Status s) {
    sessions_.EndMove(ino);
    return AbandonLocked(txn, std::move(s));
  };
  Result<InodeRecord*> r = txn.Inode(ino);
  if (!r.ok()) return fail(r.status());
  if (!IsReg(**r)) return fail(Status::Invalid(InoStr(ino) + " has extents but is no file"));
  ExtentMap map;
  Status s = LoadExtents(db_.get(), ro, ino, 0, 0, nullptr, &map);
  if (!s.ok()) return fail(s);
  MoveRecord rec;
  rec.set_ino(ino);
  rec.set_alloc_gen((*r)->attr().alloc_gen());
  rec.set_ctime_ns((*r)->attr().ctime_ns());
  uint64_t bytes = 0, hint = SpaceAllocator::kNoHint;
  for (const auto& [fo, e] : map) {
    if (e.pair() != from) continue;
    if (bytes >= budget) break;
    Result<std::vector<SpaceAllocator::Run>> runs = space_.Allocate(to, e.length(), hint, &txn.batch);
    if (!runs.ok()) {
      if (bytes == 0) return fail(runs.status().Annotate("move onto pair " + pairs_[to].name()));
      break;  // the target is full: move what found room
    }
    txn.space_changed = true;
    uint64_t pos = 0;
    for (const SpaceAllocator::Run& run : *runs) {
      MoveSpan* sp = rec.add_spans();
      sp->set_file_offset(fo + pos);
      sp->set_length(run.length);
      sp->set_from_pair(from);
      sp->set_from_dev_offset(e.dev_offset() + pos);
      sp->set_to_pair(to);
      sp->set_to_dev_offset(run.dev_offset);
      sp->set_written(e.written());
      pos += run.length;
      hint = run.dev_offset + run.length;
    }
    bytes += e.length();
  }
  if (rec.spans_size() == 0) return fail(Status::Invalid(InoStr(ino) + " has nothing on the pair"));
  txn.batch.Put(MoveKey(ino), rec.SerializeAsString());
  // Synced before the reply (MutationLock): the mover writes only into
  // space whose allocation survives a crash of meta.
  s = ApplyLocked(&txn);
  if (!s.ok()) {
    sessions_.EndMove(ino);
    return s;
  }
  moves_[ino] = rec;
  reply->set_found(true);
  *reply->mutable_move() = rec;
  return Status::OK();
}

Status MetaStore::MoveCommit(const MoveCommitRequest& req, MoveCommitReply* reply) {
  MutationLock l(this);
  const uint64_t ino = req.ino();
  auto mit = moves_.find(ino);
  if (mit == moves_.end()) {
    reply->set_reason("no move of " + InoStr(ino));
    return Status::OK();
  }
  if (mit->second.abandoned_ns() != 0) {
    reply->set_reason("the move of " + InoStr(ino) + " was abandoned (meta restarted, or a new run)");
    return Status::OK();
  }
  const MoveRecord rec = mit->second;
  auto abandon = [&](const std::string& why) {
    Txn t(db_.get());
    RetireMoveLocked(&t, ino, why);
    reply->set_reason(why);
    return ApplyLocked(&t);
  };
  Txn txn(db_.get());
  Result<InodeRecord*> r = txn.Inode(ino);
  if (!r.ok()) return abandon(InoStr(ino) + " is gone");
  InodeRecord* inode = *r;
  if (inode->attr().alloc_gen() != rec.alloc_gen() || inode->attr().ctime_ns() != rec.ctime_ns()) {
    return abandon(InoStr(ino) + " changed during its move");
  }
  ExtentMap orig, cur;
  Status s = LoadExtents(db_.get(), rocksdb::ReadOptions(), ino, 0, 0, nullptr, &orig);
  if (!s.ok()) return s;
  cur = orig;
  uint64_t bytes = 0;
  for (const MoveSpan& sp : rec.spans()) {
    // The record holding the span, as it was when the move began.
    auto it = cur.upper_bound(sp.file_offset());
    if (it == cur.begin()) return abandon(InoStr(ino) + " lost an extent during its move");
    --it;
    const Extent e = it->second;
    const uint64_t es = e.file_offset(), ee = es + e.length();
    const uint64_t ss = sp.file_offset(), se = ss + sp.length();
    if (se > ee || e.pair() != sp.from_pair() ||
        e.dev_offset() + (ss - es) != sp.from_dev_offset() || e.written() != sp.written()) {
      return abandon(InoStr(ino) + "'s map changed during its move");
    }
    cur.erase(it);
    if (es < ss) cur[es] = MakeExtent(es, ss - es, e.pair(), e.dev_offset(), e.written());
    cur[ss] = MakeExtent(ss, sp.length(), sp.to_pair(), sp.to_dev_offset(), e.written());
    if (se < ee) {
      cur[se] = MakeExtent(se, ee - se, e.pair(), e.dev_offset() + (se - es), e.written());
    }
    space_.Free(sp.from_pair(), sp.from_dev_offset(), sp.length(), &txn.batch);
    txn.space_changed = true;
    bytes += sp.length();
  }
  MergeExtents(&cur, UnitOf(*inode));
  WriteExtentDiff(ino, orig, cur, &txn.batch);
  inode->mutable_attr()->set_alloc_gen(inode->attr().alloc_gen() + 1);
  txn.batch.Delete(MoveKey(ino));
  s = sessions_.CommitMove(ino, [&] { return ApplyLocked(&txn); });
  if (s.code() == Status::Code::kBusy) {
    // An open came first: the old map stands (undo the in-memory frees).
    AbandonLocked(txn, s);
    return abandon(s.message());
  }
  if (!s.ok()) return AbandonLocked(txn, s);
  moves_.erase(ino);
  reply->set_switched(true);
  reply->set_bytes(bytes);
  return Status::OK();
}

Status MetaStore::AbandonMoves(const std::vector<uint64_t>& inos, bool all) {
  MutationLock l(this);
  Txn txn(db_.get());
  if (all) {
    for (const auto& [ino, m] : moves_) RetireMoveLocked(&txn, ino, "abandoned by meta or a new rebalance");
  } else {
    for (uint64_t ino : inos) RetireMoveLocked(&txn, ino, "the mover gave it up");
  }
  if (txn.batch.Count() == 0) return Status::OK();
  return ApplyLocked(&txn);
}

Status MetaStore::ReapMoves() {
  MutationLock l(this);
  const int64_t now = WallNs();
  Txn txn(db_.get());
  // Lost in a crash, the records are reaped again after the restart.
  txn.needs_sync = false;
  std::vector<uint64_t> reaped;
  for (const auto& [ino, m] : moves_) {
    if (m.abandoned_ns() == 0 || now - m.abandoned_ns() < kMoveQuarantineNs) continue;
    for (const MoveSpan& sp : m.spans()) {
      // A pair cannot be removed while a move names it (PairRemove).
      space_.Free(sp.to_pair(), sp.to_dev_offset(), sp.length(), &txn.batch);
    }
    txn.space_changed = true;
    txn.batch.Delete(MoveKey(ino));
    reaped.push_back(ino);
  }
  if (reaped.empty()) return Status::OK();
  Status s = ApplyLocked(&txn);
  if (!s.ok()) return s;
  for (uint64_t ino : reaped) moves_.erase(ino);
  return Status::OK();
}

size_t MetaStore::move_count() {
  MutationLock l(this);
  return moves_.size();
}

Result<RebalanceProgress> MetaStore::ReportProgress(const RebalanceProgress& p) {
  std::lock_guard lock(progress_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (progress_.running() && p.started_ns() != progress_.started_ns() &&
      now - progress_at_ < kMoverLease) {
    return Status::Busy("another rebalance is running (started " +
                        std::to_string((WallNs() - progress_.started_ns()) / 1'000'000'000) +
                        " s ago); scalefs rebalance --stop ends it");
  }
  if (p.started_ns() != progress_.started_ns()) stop_requested_ = false;
  progress_ = p;
  progress_.set_updated_ns(WallNs());
  progress_at_ = now;
  RebalanceProgress out = progress_;
  out.set_stop_requested(stop_requested_);
  if (!p.running()) stop_requested_ = false;
  return out;
}

RebalanceProgress MetaStore::Progress() {
  std::lock_guard lock(progress_mu_);
  RebalanceProgress out = progress_;
  // A mover that stopped reporting is gone (SIGKILL): not running.
  if (out.running() && std::chrono::steady_clock::now() - progress_at_ >= kMoverLease) {
    out.set_running(false);
  }
  out.set_stop_requested(stop_requested_);
  return out;
}

void MetaStore::RequestStop() {
  std::lock_guard lock(progress_mu_);
  stop_requested_ = true;
}

}  // namespace scalefs::meta
