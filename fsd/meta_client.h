// Typed calls to scalefs-meta. Every call waits for a meta that is
// (re)starting and is sent again after a transport failure (a lost
// connection, a restart, GOAWAY), until --meta_timeout_ms: an application
// sees neither EIO nor a second effect. A mutating call keeps its number
// (CallNumbers) across the retries, and meta answers a number it already
// served with the reply it stored then.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "fsd/call_numbers.h"
#include "fsd/client_metrics.h"
#include "fsd/holdings_gate.h"
#include "proto/meta.grpc.pb.h"

namespace scalefs {

class MetaClient {
 public:
  // timeout_ms <= 0 takes --meta_timeout_ms.
  explicit MetaClient(const std::string& address, int timeout_ms = 0);

  const std::string& address() const { return address_; }
  // Numbers this client's mutating calls from now on (a mount's session).
  void set_calls(CallNumbers* calls) { calls_ = calls; }
  CallNumbers* calls() const { return calls_; }
  // Orders the session's reclaim against changes of its opens and locks.
  HoldingsGate& holdings_gate() { return holdings_gate_; }
  // Counts the calls' failed attempts (a mount's); null: not counted.
  void set_metrics(ClientMetrics* metrics) { metrics_ = metrics; }
  // Name each call's caller to meta (proto/meta.proto, "scalefs-caller"):
  // only a session whose certificate squashes root needs it.
  void set_name_callers(bool on) { name_callers_ = on; }
  meta::Meta::Stub* stub() { return stub_.get(); }

  // Fails fast (no waiting) unless meta answers within timeout_ms.
  Status Ping(int timeout_ms);

  Result<meta::AttrReply> Lookup(uint64_t parent, const std::string& name);
  Result<meta::AttrReply> GetAttr(uint64_t ino);
  Result<meta::AttrReply> SetAttr(const meta::SetAttrRequest& req);
  Result<meta::AttrReply> MakeNode(const meta::MakeNodeRequest& req);
  Result<meta::AttrReply> Link(uint64_t ino, uint64_t new_parent, const std::string& new_name);
  // `parent_out`, when given, receives the parent's attr after the change.
  Status Unlink(uint64_t parent, const std::string& name, bool directory,
                meta::Attr* parent_out = nullptr);
  Status Rename(uint64_t parent, const std::string& name, uint64_t new_parent,
                const std::string& new_name, uint32_t flags);
  Result<std::string> ReadLink(uint64_t ino);
  // All entries of a directory, paging through ReadDir.
  // The entries in name order, at most max_entries of them.
  // Regular files of 1 to extents_max_size bytes come with their extent maps.
  Result<std::vector<meta::DirEntry>> ReadDirAll(uint64_t ino, size_t max_entries = SIZE_MAX,
                                                 uint64_t extents_max_size = 0);
  Status SetXattr(uint64_t ino, const std::string& name, const std::string& value,
                  uint32_t flags, bool acl_kill_sgid = false);
  Result<std::string> GetXattr(uint64_t ino, const std::string& name);
  Result<std::vector<std::string>> ListXattr(uint64_t ino);
  Status RemoveXattr(uint64_t ino, const std::string& name);
  Result<meta::StatFsReply> StatFs();
  Result<meta::ExtentsReply> Allocate(uint64_t ino, uint64_t offset, uint64_t length,
                                      bool set_size);
  // open_session != 0: this is an open of the file by that session, asking
  // for open_access (4 read | 2 write).
  Result<meta::ExtentsReply> GetExtents(uint64_t ino, uint64_t offset, uint64_t length,
                                        uint64_t open_session = 0, uint32_t open_access = 0);
  Result<meta::AttrReply> Commit(const meta::CommitRequest& req);
  Status Release(const meta::ReleaseRequest& req);

  // Sessions (see meta.proto).
  Result<meta::OpenSessionReply> OpenSession(const meta::OpenSessionRequest& req);
  Result<meta::KeepAliveReply> KeepAlive(uint64_t session);
  Result<meta::ReclaimReply> Reclaim(const meta::ReclaimRequest& req);
  Status CloseSession(uint64_t session);
  Result<meta::SessionListReply> SessionList();
  // Locks.
  Result<meta::LockReply> SetLock(const meta::LockRequest& req);
  Result<meta::LockReply> TestLock(const meta::LockRequest& req);
  Result<meta::LockReply> CancelLock(const meta::LockRequest& req);
  Result<meta::LockListReply> LockList(uint64_t ino);
  Result<meta::Pair> PairAdd(const std::string& name, const std::string& a,
                             const std::string& b);
  Result<std::vector<meta::Pair>> PairList();
  Result<meta::FsckReply> Fsck();
  // Rebalance and drain (meta/rebalance_ops.cc).
  Result<meta::Pair> PairDrain(const std::string& name);
  Status PairRemove(const std::string& name);
  Result<meta::MoveBeginReply> MoveBegin(const meta::MoveBeginRequest& req);
  Result<meta::MoveCommitReply> MoveCommit(uint64_t ino);
  Status MoveAbandon(uint64_t ino, bool all);
  Result<meta::RebalanceProgress> RebalanceReport(const meta::RebalanceProgress& p);
  Result<meta::RebalanceProgress> RebalanceStatus();
  Status RebalanceStop();

 private:
  template <typename Fn>
  Status Call(const char* what, Fn&& fn, int timeout_ms = 0);
  // Call for a mutation: numbers `req` (its `call` field) for replay.
  template <typename Req, typename Fn>
  Status Mutate(const char* what, Req* req, Fn&& fn);

  std::string address_;
  int timeout_ms_;
  CallNumbers* calls_ = nullptr;
  HoldingsGate holdings_gate_;
  bool name_callers_ = false;
  ClientMetrics* metrics_ = nullptr;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<meta::Meta::Stub> stub_;
};

}  // namespace scalefs
