#include "fsd/meta_client.h"
#include "common/rpc_channel.h"

#include <gflags/gflags.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <glog/logging.h>

#include "common/layout.h"
#include "common/rpc_status.h"
#include "fsd/caller.h"

DEFINE_int32(meta_timeout_ms, 30000,
             "how long a metadata call waits for scalefs-meta, restarts included");

namespace scalefs {

MetaClient::MetaClient(const std::string& address, int timeout_ms)
    : address_(address), timeout_ms_(timeout_ms > 0 ? timeout_ms : FLAGS_meta_timeout_ms) {
  channel_ = NewChannel(address, Role::kMeta);
  stub_ = meta::Meta::NewStub(channel_);
}

namespace {
// A failure of the transport, not an answer of meta (meta's own errors carry
// their errno in the details): the call may not have reached meta, or its
// reply may have been lost.
bool TransportFailure(const grpc::Status& s) {
  if (!s.error_details().empty()) return false;
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return true;
    default:
      return false;
  }
}
}  // namespace

template <typename Fn>
Status MetaClient::Call(const char* what, Fn&& fn, int timeout_ms) {
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : timeout_ms_);
  const std::optional<RequestCaller> caller =
      name_callers_ ? CurrentRequestCaller() : std::nullopt;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(deadline);
    if (caller) ctx.AddMetadata(kCallerMetadataKey, FormatCaller(*caller));
    grpc::Status s = fn(&ctx);
    if (s.ok()) return Status::OK();
    // Meta's answers (ENOENT of a lookup) carry their errno; what fails
    // without one never got an answer: that is an error of the call.
    if (metrics_ != nullptr && s.error_details().empty()) metrics_->MetaError(what, s.error_code());
    const bool again = TransportFailure(s) && std::chrono::system_clock::now() < deadline;
    if (!again) {
      Status st = FromGrpc(s, std::string("meta ") + what);
      // Gave up on a transport failure: the application sees EIO.
      if (st.code() == Status::Code::kUnavailable && s.error_details().empty()) {
        return Status::IoError(st.message() + " (no answer from meta at " + address_ + " in " +
                               std::to_string(attempt) + " attempts)");
      }
      return st;
    }
    LOG_EVERY_N(WARNING, 20) << "meta " << what << ": " << s.error_message()
                             << "; sending it again (attempt " << attempt + 1 << ")";
    // Let the channel notice a broken connection before the next attempt.
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(20 * attempt, 200)));
  }
}

template <typename Req, typename Fn>
Status MetaClient::Mutate(const char* what, Req* req, Fn&& fn) {
  if (calls_ != nullptr && !req->has_call()) *req->mutable_call() = calls_->Begin();
  Status s = Call(what, std::forward<Fn>(fn));
  if (calls_ != nullptr) calls_->End(req->call());
  return s;
}

Status MetaClient::Ping(int timeout_ms) {
  grpc::ClientContext ctx;
  ctx.set_wait_for_ready(true);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  meta::StatFsReply rep;
  return FromGrpc(stub_->StatFs(&ctx, meta::Empty(), &rep), "meta " + address_);
}

Result<meta::AttrReply> MetaClient::Lookup(uint64_t parent, const std::string& name) {
  meta::LookupRequest req;
  req.set_parent(parent);
  req.set_name(name);
  meta::AttrReply rep;
  Status s = Call("Lookup", [&](grpc::ClientContext* c) { return stub_->Lookup(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::AttrReply> MetaClient::GetAttr(uint64_t ino) {
  meta::InodeRequest req;
  req.set_ino(ino);
  meta::AttrReply rep;
  Status s = Call("GetAttr", [&](grpc::ClientContext* c) { return stub_->GetAttr(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::AttrReply> MetaClient::SetAttr(const meta::SetAttrRequest& in) {
  meta::SetAttrRequest req = in;
  meta::AttrReply rep;
  Status s = Mutate("SetAttr", &req, [&](grpc::ClientContext* c) { return stub_->SetAttr(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::AttrReply> MetaClient::MakeNode(const meta::MakeNodeRequest& in) {
  meta::MakeNodeRequest req = in;
  meta::AttrReply rep;
  Status s =
      Mutate("MakeNode", &req, [&](grpc::ClientContext* c) { return stub_->MakeNode(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::AttrReply> MetaClient::Link(uint64_t ino, uint64_t new_parent,
                                         const std::string& new_name) {
  meta::LinkRequest req;
  req.set_ino(ino);
  req.set_new_parent(new_parent);
  req.set_new_name(new_name);
  meta::AttrReply rep;
  Status s = Mutate("Link", &req, [&](grpc::ClientContext* c) { return stub_->Link(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Status MetaClient::Unlink(uint64_t parent, const std::string& name, bool directory,
                          meta::Attr* parent_out) {
  meta::UnlinkRequest req;
  req.set_parent(parent);
  req.set_name(name);
  req.set_directory(directory);
  meta::AttrReply rep;
  Status s =
      Mutate("Unlink", &req, [&](grpc::ClientContext* c) { return stub_->Unlink(c, req, &rep); });
  if (s.ok() && parent_out != nullptr && rep.has_parent_attr()) *parent_out = rep.parent_attr();
  return s;
}

Status MetaClient::Rename(uint64_t parent, const std::string& name, uint64_t new_parent,
                          const std::string& new_name, uint32_t flags) {
  meta::RenameRequest req;
  req.set_parent(parent);
  req.set_name(name);
  req.set_new_parent(new_parent);
  req.set_new_name(new_name);
  req.set_flags(flags);
  meta::Empty rep;
  return Mutate("Rename", &req, [&](grpc::ClientContext* c) { return stub_->Rename(c, req, &rep); });
}

Result<std::string> MetaClient::ReadLink(uint64_t ino) {
  meta::InodeRequest req;
  req.set_ino(ino);
  meta::ReadLinkReply rep;
  Status s =
      Call("ReadLink", [&](grpc::ClientContext* c) { return stub_->ReadLink(c, req, &rep); });
  if (!s.ok()) return s;
  return rep.target();
}

Result<std::vector<meta::DirEntry>> MetaClient::ReadDirAll(uint64_t ino, size_t max_entries,
                                                           uint64_t extents_max_size) {
  std::vector<meta::DirEntry> out;
  std::string after;
  while (out.size() < max_entries) {
    meta::ReadDirRequest req;
    req.set_ino(ino);
    req.set_after(after);
    req.set_extents_max_size(extents_max_size);
    req.set_limit(static_cast<uint32_t>(std::min<size_t>(1024, max_entries - out.size())));
    meta::ReadDirReply rep;
    Status s =
        Call("ReadDir", [&](grpc::ClientContext* c) { return stub_->ReadDir(c, req, &rep); });
    if (!s.ok()) return s;
    for (auto& e : *rep.mutable_entries()) out.push_back(std::move(e));
    if (!rep.more() || rep.entries_size() == 0) break;
    after = out.back().name();
  }
  return out;
}

Status MetaClient::SetXattr(uint64_t ino, const std::string& name, const std::string& value,
                            uint32_t flags, bool acl_kill_sgid) {
  meta::SetXattrRequest req;
  req.set_ino(ino);
  req.set_name(name);
  req.set_value(value);
  req.set_flags(flags);
  req.set_acl_kill_sgid(acl_kill_sgid);
  meta::Empty rep;
  return Mutate("SetXattr", &req, [&](grpc::ClientContext* c) { return stub_->SetXattr(c, req, &rep); });
}

Result<std::string> MetaClient::GetXattr(uint64_t ino, const std::string& name) {
  meta::XattrRequest req;
  req.set_ino(ino);
  req.set_name(name);
  meta::XattrReply rep;
  Status s =
      Call("GetXattr", [&](grpc::ClientContext* c) { return stub_->GetXattr(c, req, &rep); });
  if (!s.ok()) return s;
  return rep.value();
}

Result<std::vector<std::string>> MetaClient::ListXattr(uint64_t ino) {
  meta::InodeRequest req;
  req.set_ino(ino);
  meta::ListXattrReply rep;
  Status s =
      Call("ListXattr", [&](grpc::ClientContext* c) { return stub_->ListXattr(c, req, &rep); });
  if (!s.ok()) return s;
  return std::vector<std::string>(rep.names().begin(), rep.names().end());
}

Status MetaClient::RemoveXattr(uint64_t ino, const std::string& name) {
  meta::XattrRequest req;
  req.set_ino(ino);
  req.set_name(name);
  meta::Empty rep;
  return Mutate("RemoveXattr", &req,
                [&](grpc::ClientContext* c) { return stub_->RemoveXattr(c, req, &rep); });
}

Result<meta::StatFsReply> MetaClient::StatFs() {
  meta::StatFsReply rep;
  Status s = Call("StatFs",
                  [&](grpc::ClientContext* c) { return stub_->StatFs(c, meta::Empty(), &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::ExtentsReply> MetaClient::Allocate(uint64_t ino, uint64_t offset, uint64_t length,
                                                bool set_size) {
  meta::AllocateRequest req;
  req.set_ino(ino);
  req.set_offset(offset);
  req.set_length(length);
  req.set_set_size(set_size);
  meta::ExtentsReply rep;
  Status s =
      Mutate("Allocate", &req, [&](grpc::ClientContext* c) { return stub_->Allocate(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::ExtentsReply> MetaClient::GetExtents(uint64_t ino, uint64_t offset, uint64_t length,
                                                  uint64_t open_session, uint32_t open_access) {
  meta::ExtentsRequest req;
  req.set_ino(ino);
  req.set_offset(offset);
  req.set_length(length);
  req.set_open_session(open_session);
  req.set_open_access(open_access);
  meta::ExtentsReply rep;
  Status s =
      Call("GetExtents", [&](grpc::ClientContext* c) { return stub_->GetExtents(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::AttrReply> MetaClient::Commit(const meta::CommitRequest& in) {
  meta::CommitRequest req = in;
  meta::AttrReply rep;
  Status s = Mutate("Commit", &req, [&](grpc::ClientContext* c) { return stub_->Commit(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Status MetaClient::Release(const meta::ReleaseRequest& req) {
  meta::Empty rep;
  return Call("Release", [&](grpc::ClientContext* c) { return stub_->Release(c, req, &rep); });
}

Result<meta::OpenSessionReply> MetaClient::OpenSession(const meta::OpenSessionRequest& req) {
  meta::OpenSessionReply rep;
  Status s = Call("OpenSession",
                  [&](grpc::ClientContext* c) { return stub_->OpenSession(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::KeepAliveReply> MetaClient::KeepAlive(uint64_t session) {
  meta::SessionRef req;
  req.set_session(session);
  meta::KeepAliveReply rep;
  Status s =
      Call("KeepAlive", [&](grpc::ClientContext* c) { return stub_->KeepAlive(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::ReclaimReply> MetaClient::Reclaim(const meta::ReclaimRequest& req) {
  meta::ReclaimReply rep;
  Status s = Call("Reclaim", [&](grpc::ClientContext* c) { return stub_->Reclaim(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Status MetaClient::CloseSession(uint64_t session) {
  meta::SessionRef req;
  req.set_session(session);
  meta::Empty rep;
  return Call("CloseSession",
              [&](grpc::ClientContext* c) { return stub_->CloseSession(c, req, &rep); });
}

Result<meta::SessionListReply> MetaClient::SessionList() {
  meta::SessionListReply rep;
  Status s = Call("SessionList", [&](grpc::ClientContext* c) {
    return stub_->SessionList(c, meta::Empty(), &rep);
  });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::LockReply> MetaClient::SetLock(const meta::LockRequest& req) {
  meta::LockReply rep;
  Status s = Call("SetLock", [&](grpc::ClientContext* c) { return stub_->SetLock(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::LockReply> MetaClient::TestLock(const meta::LockRequest& req) {
  meta::LockReply rep;
  Status s =
      Call("TestLock", [&](grpc::ClientContext* c) { return stub_->TestLock(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::LockReply> MetaClient::CancelLock(const meta::LockRequest& req) {
  meta::LockReply rep;
  Status s =
      Call("CancelLock", [&](grpc::ClientContext* c) { return stub_->CancelLock(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::LockListReply> MetaClient::LockList(uint64_t ino) {
  meta::LockListRequest req;
  req.set_ino(ino);
  meta::LockListReply rep;
  Status s =
      Call("LockList", [&](grpc::ClientContext* c) { return stub_->LockList(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::Pair> MetaClient::PairAdd(const std::string& name, const std::string& a,
                                       const std::string& b) {
  meta::PairAddRequest req;
  req.set_name(name);
  req.set_address_a(a);
  req.set_address_b(b);
  meta::Pair rep;
  Status s = Call("PairAdd", [&](grpc::ClientContext* c) { return stub_->PairAdd(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<std::vector<meta::Pair>> MetaClient::PairList() {
  meta::PairListReply rep;
  Status s = Call("PairList",
                  [&](grpc::ClientContext* c) { return stub_->PairList(c, meta::Empty(), &rep); });
  if (!s.ok()) return s;
  return std::vector<meta::Pair>(rep.pairs().begin(), rep.pairs().end());
}

Result<meta::FsckReply> MetaClient::Fsck() {
  meta::FsckReply rep;
  // A whole-namespace scan: allow it far longer than an ordinary call.
  Status s = Call(
      "Fsck", [&](grpc::ClientContext* c) { return stub_->Fsck(c, meta::Empty(), &rep); },
      timeout_ms_ * 20);
  if (!s.ok()) return s;
  return rep;
}

Result<meta::Pair> MetaClient::PairDrain(const std::string& name) {
  meta::PairNameRequest req;
  req.set_name(name);
  meta::Pair rep;
  Status s = Call("PairDrain", [&](grpc::ClientContext* c) { return stub_->PairDrain(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Status MetaClient::PairRemove(const std::string& name) {
  meta::PairNameRequest req;
  req.set_name(name);
  meta::Empty rep;
  return Call("PairRemove", [&](grpc::ClientContext* c) { return stub_->PairRemove(c, req, &rep); });
}

Result<meta::MoveBeginReply> MetaClient::MoveBegin(const meta::MoveBeginRequest& req) {
  meta::MoveBeginReply rep;
  Status s = Call("MoveBegin", [&](grpc::ClientContext* c) { return stub_->MoveBegin(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::MoveCommitReply> MetaClient::MoveCommit(uint64_t ino) {
  meta::MoveCommitRequest req;
  req.set_ino(ino);
  meta::MoveCommitReply rep;
  Status s = Call("MoveCommit", [&](grpc::ClientContext* c) { return stub_->MoveCommit(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Status MetaClient::MoveAbandon(uint64_t ino, bool all) {
  meta::MoveAbandonRequest req;
  req.set_ino(ino);
  req.set_all(all);
  meta::Empty rep;
  return Call("MoveAbandon", [&](grpc::ClientContext* c) { return stub_->MoveAbandon(c, req, &rep); });
}

Result<meta::RebalanceProgress> MetaClient::RebalanceReport(const meta::RebalanceProgress& p) {
  meta::RebalanceProgress rep;
  Status s = Call("RebalanceReport",
                  [&](grpc::ClientContext* c) { return stub_->RebalanceReport(c, p, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::RebalanceProgress> MetaClient::RebalanceStatus() {
  meta::RebalanceProgress rep;
  Status s = Call("RebalanceStatus", [&](grpc::ClientContext* c) {
    return stub_->RebalanceStatus(c, meta::Empty(), &rep);
  });
  if (!s.ok()) return s;
  return rep;
}

Status MetaClient::RebalanceStop() {
  meta::Empty rep;
  return Call("RebalanceStop",
              [&](grpc::ClientContext* c) { return stub_->RebalanceStop(c, meta::Empty(), &rep); });
}

}  // namespace scalefs
