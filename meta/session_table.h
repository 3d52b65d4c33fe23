// The mounted clients meta knows: each session's identity and lease, the
// files it holds open, and the messages meta has for it (its event stream).
//
// Sessions are stored in the DB, so a restarted meta knows every client that
// was mounted and gives each one lease to come back: until every stored
// session has reclaimed its opens and locks or expired, meta is in grace
// (no new lock is granted, no unlinked file is deleted). Leases, opens and
// queued messages live in memory: the clients hold the truth of what they
// have open and give it back at reclaim.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include <rocksdb/db.h>

#include "common/status.h"
#include "proto/meta.pb.h"

namespace scalefs::meta {

class SessionTable {
 public:
  using Clock = std::chrono::steady_clock;

  SessionTable(rocksdb::DB* db, std::chrono::milliseconds lease);

  // Reads the stored sessions at start: each must reclaim within one lease.
  Status Load();

  uint64_t boot() const { return boot_; }
  std::chrono::milliseconds lease() const { return lease_; }

  // A new session, or `resume` again when it is still known (its lease
  // renewed; `reclaim` set when meta restarted since it last called).
  Result<OpenSessionReply> Open(const OpenSessionRequest& req);
  // Renews the lease. NotFound when the session expired or never was.
  Status KeepAlive(uint64_t session);
  bool Known(uint64_t session) const;
  // The session gave back what it holds after a restart (or a new session
  // took up what an expired one held): the grace period waits no more for it.
  void Reclaimed(uint64_t session);
  // Ends a session now (unmount); returns the inodes it had open.
  Result<std::vector<uint64_t>> Close(uint64_t session);

  // `session` holds `ino` open. NotFound when the session is unknown.
  // An open of a file being moved cancels the move (see BeginMove).
  Status AddOpen(uint64_t session, uint64_t ino);
  // Ends that open; true when no session holds `ino` open any more.
  bool DropOpen(uint64_t session, uint64_t ino);
  bool IsOpen(uint64_t ino) const;

  // The gate of a move (the protocol is in meta/rebalance_ops.cc): a file is
  // moved only while no session holds it open. BeginMove is false when one
  // does (or the file is moving already); from then on an open of the file
  // (AddOpen, also a reclaim) cancels the move, so an opener never waits and
  // never gets a map that is about to change. CommitMove runs `apply` (the
  // switch batch) only if the move is still uncancelled, under this table's
  // mutex: an open either comes before it (and cancels the move) or reads
  // the map after the switch. Busy when cancelled. EndMove forgets a move
  // (abandoned).
  bool BeginMove(uint64_t ino);
  Status CommitMove(uint64_t ino, const std::function<Status()>& apply);
  void EndMove(uint64_t ino);
  uint64_t moves_cancelled() const;

  // Removes the sessions whose lease ran out and returns them with the
  // inodes they had open. Time meta itself stood still (SIGSTOP, a stalled
  // host) is not held against the clients: leases move on by that much.
  struct Ended {
    uint64_t session;
    std::vector<uint64_t> inos;
  };
  std::vector<Ended> Expire();
  // True while a session stored before this start has neither reclaimed nor
  // expired (and at most one lease after the start).
  bool InGrace() const;

  // Queues a message for the session's stream; dropped if it is gone.
  void Post(uint64_t session, const SessionEvent& event);
  // Waits up to `timeout` for messages; false once the session is gone.
  bool WaitEvents(uint64_t session, std::chrono::milliseconds timeout,
                  std::vector<SessionEvent>* out);

  SessionListReply List() const;

 private:
  struct Session {
    SessionInfo info;
    Clock::time_point renewed;
    std::set<uint64_t> opens;
    std::deque<SessionEvent> events;
    bool must_reclaim = false;  // stored before this start, not reclaimed yet
  };
  // Forgets the session in memory and deletes its record and stored replies.
  std::vector<uint64_t> EndLocked(std::map<uint64_t, Session>::iterator it);
  static int64_t WallNs();

  rocksdb::DB* const db_;
  const std::chrono::milliseconds lease_;
  const uint64_t boot_;
  const Clock::time_point started_;
  mutable std::mutex mu_;
  std::condition_variable events_cv_;
  std::map<uint64_t, Session> sessions_;
  std::map<uint64_t, std::set<uint64_t>> open_by_ino_;  // ino -> sessions
  std::set<uint64_t> moving_;  // files being moved whose move no open cancelled
  uint64_t moves_cancelled_ = 0;
  uint64_t next_session_ = 1;
  Clock::time_point last_expire_;
};

}  // namespace scalefs::meta
