// A mount's session at meta: opened at mount, renewed while mounted, taken
// up again when meta restarted (the client then reclaims the files it has
// open and the locks it holds, within meta's grace period), and closed at
// unmount. Its stream carries meta's messages to this client (lock grants
// now; lease recalls are meant to travel the same way).
//
// If the session expired after all (meta was unreachable longer than the
// lease), a new one is opened and given what this client holds; locks that
// another client took meanwhile are lost, and logged.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"
#include "fsd/call_numbers.h"
#include "fsd/meta_client.h"

namespace scalefs {

class ClientSession {
 public:
  // What this client holds at meta, to reclaim.
  struct Holdings {
    std::vector<uint64_t> open_inos;
    std::vector<meta::FileLock> locks;
  };
  using HoldingsFn = std::function<Holdings()>;
  using EventFn = std::function<void(const meta::SessionEvent&)>;

  // Numbers `meta`'s mutating calls with this session's CallNumbers.
  ClientSession(MetaClient* meta, meta::SessionInfo info);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // At mount: fails when meta does not answer.
  Status Open();
  // Renews the lease and reads the stream until Close. `holdings` answers
  // what to reclaim; `on_event` gets every message (on the stream's thread).
  void Start(HoldingsFn holdings, EventFn on_event);
  // Ends the session at meta: its opens and locks go at once.
  void Close();

  uint64_t id() const { return calls_.session(); }
  // What this client's certificate grants, as meta answered at Open.
  const std::string& subdir() const { return subdir_; }
  bool read_only() const { return read_only_; }
  bool root_squash() const { return root_squash_; }
  // Calls after which meta answered with this session's changes: tests and
  // status use it to tell that the session came back after a restart.
  uint64_t reestablished() const { return reestablished_.load(); }

 private:
  void RenewLoop();
  void EventLoop();
  // Asks meta whether it still knows the session, as it was (`boot`);
  // reclaims after a restart, opens a new session after an expiry.
  void Reestablish(const char* why);
  bool WaitStop(std::chrono::milliseconds d);

  MetaClient* const meta_;
  meta::SessionInfo info_;
  std::string subdir_ = "/";
  bool read_only_ = false;
  bool root_squash_ = false;
  CallNumbers calls_;
  HoldingsFn holdings_;
  EventFn on_event_;

  std::mutex establish_mu_;  // one Reestablish at a time
  std::atomic<uint64_t> boot_{0};
  std::atomic<uint64_t> lease_ms_{30000};
  std::atomic<uint64_t> reestablished_{0};

  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  grpc::ClientContext* stream_ctx_ = nullptr;  // the open stream, to cancel it
  std::thread renew_, events_;
};

}  // namespace scalefs
