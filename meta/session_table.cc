#include "meta/session_table.h"

#include <glog/logging.h>
#include <rocksdb/write_batch.h>

#include <random>

#include "meta/keys.h"
#include "meta/prefix_iterator.h"

namespace scalefs::meta {

namespace {
uint64_t NewBoot() {
  std::random_device rd;
  return (uint64_t{rd()} << 32 | rd()) | 1;  // never 0
}
}  // namespace

SessionTable::SessionTable(rocksdb::DB* db, std::chrono::milliseconds lease)
    : db_(db), lease_(lease), boot_(NewBoot()), started_(Clock::now()), last_expire_(started_) {}

int64_t SessionTable::WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status SessionTable::Load() {
  std::lock_guard lock(mu_);
  std::string v;
  uint64_t n = 0;
  if (db_->Get(rocksdb::ReadOptions(), std::string(kNextSessionKey), &v).ok() &&
      DecodeU64(v, &n)) {
    next_session_ = n;
  }
  PrefixIterator it(db_, rocksdb::ReadOptions(), std::string(1, kSessionTag));
  for (it.Seek(); it.Valid(); it.Next()) {
    uint64_t id;
    if (!ParseSessionKey(it.key().ToStringView(), &id)) continue;
    Session& s = sessions_[id];
    if (!s.info.ParseFromArray(it.value().data(), static_cast<int>(it.value().size()))) {
      return Status::IoError("corrupt session record " + std::to_string(id));
    }
    s.renewed = started_;
    s.must_reclaim = true;
    next_session_ = std::max(next_session_, id + 1);
  }
  if (!it.status().ok()) return Status::IoError("read sessions: " + it.status().ToString());
  if (!sessions_.empty()) {
    LOG(INFO) << sessions_.size() << " sessions from before the restart; grace period of "
              << lease_.count() << " ms for them to reclaim";
  }
  return Status::OK();
}

Result<OpenSessionReply> SessionTable::Open(const OpenSessionRequest& req) {
  std::lock_guard lock(mu_);
  OpenSessionReply reply;
  reply.set_lease_ms(lease_.count());
  reply.set_boot(boot_);
  if (req.resume() != 0) {
    auto it = sessions_.find(req.resume());
    if (it != sessions_.end()) {
      it->second.renewed = Clock::now();
      reply.set_session(req.resume());
      reply.set_reclaim(it->second.must_reclaim);
      return reply;
    }
  }
  const uint64_t id = next_session_++;
  Session s;
  s.info = req.info();
  s.info.set_id(id);
  s.info.set_start_ns(WallNs());
  s.info.clear_open_files();
  s.info.clear_locks();
  s.info.clear_last_seen_ns();
  s.info.clear_open_inos();
  s.renewed = Clock::now();
  rocksdb::WriteBatch batch;
  batch.Put(SessionKey(id), s.info.SerializeAsString());
  batch.Put(std::string(kNextSessionKey), EncodeU64(next_session_));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status st = db_->Write(wo, &batch);
  if (!st.ok()) return Status::IoError("store session: " + st.ToString());
  LOG(INFO) << "session " << id << " opened: " << s.info.host() << ":" << s.info.mount_point()
            << " pid " << s.info.pid()
            << (req.resume() != 0 ? " (session " + std::to_string(req.resume()) + " had expired)"
                                  : "");
  sessions_.emplace(id, std::move(s));
  reply.set_session(id);
  return reply;
}

Status SessionTable::KeepAlive(uint64_t session) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return Status::NotFound("no session " + std::to_string(session));
  it->second.renewed = Clock::now();
  return Status::OK();
}

bool SessionTable::Known(uint64_t session) const {
  std::lock_guard lock(mu_);
  return sessions_.count(session) != 0;
}

void SessionTable::Reclaimed(uint64_t session) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session);
  if (it != sessions_.end()) it->second.must_reclaim = false;
}

std::vector<uint64_t> SessionTable::EndLocked(std::map<uint64_t, Session>::iterator it) {
  const uint64_t id = it->first;
  std::vector<uint64_t> inos(it->second.opens.begin(), it->second.opens.end());
  for (uint64_t ino : inos) {
    auto o = open_by_ino_.find(ino);
    if (o == open_by_ino_.end()) continue;
    o->second.erase(id);
    if (o->second.empty()) open_by_ino_.erase(o);
  }
  sessions_.erase(it);
  events_cv_.notify_all();
  // Not synced: a record that survives a crash only makes the session come
  // back for one more lease.
  rocksdb::WriteBatch batch;
  batch.Delete(SessionKey(id));
  // Point deletes: a range tombstone would slow every read of the memtable.
  PrefixIterator replies(db_, rocksdb::ReadOptions(), ReplyPrefix(id));
  for (replies.Seek(); replies.Valid(); replies.Next()) batch.Delete(replies.key());
  rocksdb::Status st = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!st.ok()) LOG(ERROR) << "delete session " << id << ": " << st.ToString();
  return inos;
}

Result<std::vector<uint64_t>> SessionTable::Close(uint64_t session) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return Status::NotFound("no session " + std::to_string(session));
  LOG(INFO) << "session " << session << " closed (" << it->second.info.host() << ":"
            << it->second.info.mount_point() << ")";
  return EndLocked(it);
}

Status SessionTable::AddOpen(uint64_t session, uint64_t ino) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return Status::NotFound("no session " + std::to_string(session));
  it->second.opens.insert(ino);
  open_by_ino_[ino].insert(session);
  if (moving_.erase(ino) != 0) {
    moves_cancelled_++;
    LOG(INFO) << "move of inode " << ino << " cancelled: session " << session << " opened it";
  }
  return Status::OK();
}

bool SessionTable::BeginMove(uint64_t ino) {
  std::lock_guard lock(mu_);
  if (open_by_ino_.count(ino) != 0) return false;
  return moving_.insert(ino).second;
}

Status SessionTable::CommitMove(uint64_t ino, const std::function<Status()>& apply) {
  std::lock_guard lock(mu_);
  if (moving_.count(ino) == 0 || open_by_ino_.count(ino) != 0) {
    moving_.erase(ino);
    return Status::Busy("inode " + std::to_string(ino) + " was opened during its move");
  }
  Status s = apply();
  moving_.erase(ino);
  return s;
}

void SessionTable::EndMove(uint64_t ino) {
  std::lock_guard lock(mu_);
  moving_.erase(ino);
}

uint64_t SessionTable::moves_cancelled() const {
  std::lock_guard lock(mu_);
  return moves_cancelled_;
}

bool SessionTable::DropOpen(uint64_t session, uint64_t ino) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session);
  if (it != sessions_.end()) it->second.opens.erase(ino);
  auto o = open_by_ino_.find(ino);
  if (o == open_by_ino_.end()) return true;
  o->second.erase(session);
  if (!o->second.empty()) return false;
  open_by_ino_.erase(o);
  return true;
}

bool SessionTable::IsOpen(uint64_t ino) const {
  std::lock_guard lock(mu_);
  return open_by_ino_.count(ino) != 0;
}

std::vector<SessionTable::Ended> SessionTable::Expire() {
  std::lock_guard lock(mu_);
  const Clock::time_point now = Clock::now();
  // Called about every second: a much longer gap is time meta stood still,
  // when no client could renew.
  const Clock::duration gap = now - last_expire_;
  last_expire_ = now;
  if (gap > std::chrono::seconds(3)) {
    LOG(WARNING) << "meta stood still for "
                 << std::chrono::duration_cast<std::chrono::milliseconds>(gap).count()
                 << " ms: leases extended by as much";
    for (auto& [id, s] : sessions_) s.renewed += gap;
  }
  std::vector<Ended> out;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (now - it->second.renewed < lease_) {
      ++it;
      continue;
    }
    LOG(WARNING) << "session " << it->first << " (" << it->second.info.host() << ":"
                 << it->second.info.mount_point() << ") expired: no renewal for "
                 << lease_.count() << " ms";
    auto next = std::next(it);
    out.push_back({it->first, EndLocked(it)});
    it = next;
  }
  return out;
}

bool SessionTable::InGrace() const {
  std::lock_guard lock(mu_);
  if (Clock::now() - started_ >= lease_) return false;
  for (const auto& [id, s] : sessions_) {
    if (s.must_reclaim) return true;
  }
  return false;
}

void SessionTable::Post(uint64_t session, const SessionEvent& event) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  // A client that stopped reading gets its lock grants by asking again.
  if (it->second.events.size() >= 4096) it->second.events.pop_front();
  it->second.events.push_back(event);
  events_cv_.notify_all();
}

bool SessionTable::WaitEvents(uint64_t session, std::chrono::milliseconds timeout,
                              std::vector<SessionEvent>* out) {
  std::unique_lock lock(mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return false;
  events_cv_.wait_for(lock, timeout, [&] {
    it = sessions_.find(session);
    return it == sessions_.end() || !it->second.events.empty();
  });
  if (it == sessions_.end()) return false;
  out->assign(it->second.events.begin(), it->second.events.end());
  it->second.events.clear();
  return true;
}

SessionListReply SessionTable::List() const {
  std::lock_guard lock(mu_);
  SessionListReply out;
  const Clock::time_point now = Clock::now();
  const int64_t wall = WallNs();
  bool grace = false;
  for (const auto& [id, s] : sessions_) {
    SessionInfo* i = out.add_sessions();
    *i = s.info;
    i->set_open_files(static_cast<uint32_t>(s.opens.size()));
    for (uint64_t ino : s.opens) i->add_open_inos(ino);
    i->set_last_seen_ns(
        wall - std::chrono::duration_cast<std::chrono::nanoseconds>(now - s.renewed).count());
    grace = grace || s.must_reclaim;
  }
  out.set_grace(grace && now - started_ < lease_);
  return out;
}

}  // namespace scalefs::meta
