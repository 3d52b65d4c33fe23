#include "meta/meta_service.h"

#include <fcntl.h>
#include <glog/logging.h>

#include "common/request_caller.h"
#include "common/rpc_status.h"

namespace scalefs::meta {

namespace {
grpc::Status AttrOut(const Result<InodeRecord>& r, AttrReply* reply) {
  if (!r.ok()) return ToGrpc(r.status());
  *reply->mutable_attr() = r.value().attr();
  *reply->mutable_layout() = r.value().layout();
  return grpc::Status::OK;
}

grpc::Status ExtentsOut(const Result<ExtentList>& r, ExtentsReply* reply) {
  if (!r.ok()) return ToGrpc(r.status());
  for (const Extent& e : r.value().extents) *reply->add_extents() = e;
  *reply->mutable_attr() = r.value().attr;
  return grpc::Status::OK;
}
}  // namespace

bool MetaService::CallerIsRoot(const grpc::ServerContext& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(kCallerMetadataKey);
  if (it == md.end()) return true;
  std::optional<RequestCaller> caller = ParseCaller(std::string_view(it->second.data(), it->second.size()));
  return !caller || caller->uid == 0;
}

grpc::Status MetaService::Lookup(grpc::ServerContext* ctx, const LookupRequest* in, AttrReply* reply) {
  return Serve(ctx, in, reply, Access::kRead, &PermissionCheck::Lookup,
               [&](const LookupRequest* req) -> grpc::Status {
    return AttrOut(store_->Lookup(req->parent(), req->name()), reply);
  });
}

grpc::Status MetaService::GetAttr(grpc::ServerContext* ctx, const InodeRequest* in, AttrReply* reply) {
  return Serve(ctx, in, reply, Access::kRead, [&](const InodeRequest* req) -> grpc::Status {
    return AttrOut(store_->GetAttr(req->ino()), reply);
  });
}

grpc::Status MetaService::SetAttr(grpc::ServerContext* ctx, const SetAttrRequest* in, AttrReply* reply) {
  return Serve(ctx, in, reply, Access::kChange, &PermissionCheck::SetAttr,
               [&](const SetAttrRequest* req) -> grpc::Status {
    return ToGrpc(store_->SetAttr(*req, reply));
  });
}

grpc::Status MetaService::MakeNode(grpc::ServerContext* ctx, const MakeNodeRequest* in, AttrReply* reply) {
  return Serve(ctx, in, reply, Access::kChange, &PermissionCheck::MakeNode,
               [&](const MakeNodeRequest* req) -> grpc::Status {
    return ToGrpc(store_->MakeNode(*req, reply));
  });
}

grpc::Status MetaService::Link(grpc::ServerContext* ctx, const LinkRequest* in, AttrReply* reply) {
  return Serve(ctx, in, reply, Access::kChange, &PermissionCheck::Link,
               [&](const LinkRequest* req) -> grpc::Status {
    return ToGrpc(store_->Link(*req, reply));
  });
}

grpc::Status MetaService::Unlink(grpc::ServerContext* ctx, const UnlinkRequest* in, AttrReply* reply) {
  return Serve(ctx, in, reply, Access::kChange, &PermissionCheck::Unlink,
               [&](const UnlinkRequest* req) -> grpc::Status {
    return ToGrpc(store_->Unlink(*req, reply));
  });
}

grpc::Status MetaService::Rename(grpc::ServerContext* ctx, const RenameRequest* in, Empty* reply) {
  return Serve(ctx, in, reply, Access::kChange, &PermissionCheck::Rename,
               [&](const RenameRequest* req) -> grpc::Status {
    return ToGrpc(store_->Rename(*req, reply));
  });
}

grpc::Status MetaService::ReadLink(grpc::ServerContext* ctx, const InodeRequest* in, ReadLinkReply* reply) {
  return Serve(ctx, in, reply, Access::kRead, [&](const InodeRequest* req) -> grpc::Status {
    Result<std::string> r = store_->ReadLink(req->ino());
    if (!r.ok()) return ToGrpc(r.status());
    reply->set_target(*r);
    return grpc::Status::OK;
  });
}

grpc::Status MetaService::ReadDir(grpc::ServerContext* ctx, const ReadDirRequest* in, ReadDirReply* reply) {
  return Serve(ctx, in, reply, Access::kRead, &PermissionCheck::ReadDir,
               [&](const ReadDirRequest* req) -> grpc::Status {
    Result<DirPage> r = store_->ReadDir(req->ino(), req->after(), req->limit(), req->extents_max_size());
    if (!r.ok()) return ToGrpc(r.status());
    for (DirEntry& e : r->entries) *reply->add_entries() = std::move(e);
    reply->set_more(r->more);
    return grpc::Status::OK;
  });
}

grpc::Status MetaService::SetXattr(grpc::ServerContext* ctx, const SetXattrRequest* in, Empty* reply) {
  return Serve(ctx, in, reply, Access::kChange, &PermissionCheck::SetXattr,
               [&](const SetXattrRequest* req) -> grpc::Status {
    return ToGrpc(store_->SetXattr(*req, reply));
  });
}

grpc::Status MetaService::GetXattr(grpc::ServerContext* ctx, const XattrRequest* in, XattrReply* reply) {
  return Serve(ctx, in, reply, Access::kRead, &PermissionCheck::GetXattr,
               [&](const XattrRequest* req) -> grpc::Status {
    Result<std::string> r = store_->GetXattr(req->ino(), req->name());
    if (!r.ok()) return ToGrpc(r.status());
    reply->set_value(*r);
    return grpc::Status::OK;
  });
}

grpc::Status MetaService::ListXattr(grpc::ServerContext* ctx, const InodeRequest* in, ListXattrReply* reply) {
  return Serve(ctx, in, reply, Access::kRead, [&](const InodeRequest* req) -> grpc::Status {
    Result<std::vector<std::string>> r = store_->ListXattr(req->ino());
    if (!r.ok()) return ToGrpc(r.status());
    for (const std::string& n : *r) reply->add_names(n);
    return grpc::Status::OK;
  });
}

grpc::Status MetaService::RemoveXattr(grpc::ServerContext* ctx, const XattrRequest* in, Empty* reply) {
  return Serve(ctx, in, reply, Access::kChange, &PermissionCheck::RemoveXattr,
               [&](const XattrRequest* req) -> grpc::Status {
    return ToGrpc(store_->RemoveXattr(*req, reply));
  });
}

grpc::Status MetaService::StatFs(grpc::ServerContext*, const Empty*, StatFsReply* reply) {
  *reply = store_->StatFs();
  return grpc::Status::OK;
}

grpc::Status MetaService::Allocate(grpc::ServerContext* ctx, const AllocateRequest* in, ExtentsReply* reply) {
  return Serve(ctx, in, reply, Access::kChange, [&](const AllocateRequest* req) -> grpc::Status {
    return ToGrpc(store_->Allocate(*req, reply));
  });
}

grpc::Status MetaService::GetExtents(grpc::ServerContext* ctx, const ExtentsRequest* in, ExtentsReply* reply) {
  return Serve(ctx, in, reply, Access::kRead, &PermissionCheck::Open,
               [&](const ExtentsRequest* req) -> grpc::Status {
    if (req->open_session() != 0) {
      // Registered before the read: an unlink from now on keeps the data.
      Status s = store_->sessions().AddOpen(req->open_session(), req->ino());
      if (!s.ok()) return ToGrpc(Status::Stale(s.message() + ": the mount's session expired"));
    }
    return ExtentsOut(store_->GetExtents(req->ino(), req->offset(), req->length()), reply);
  });
}

grpc::Status MetaService::Release(grpc::ServerContext* ctx, const ReleaseRequest* in, Empty* reply) {
  return Serve(ctx, in, reply, Access::kRead, [&](const ReleaseRequest* req) -> grpc::Status {
    return ToGrpc(store_->Release(*req));
  });
}

grpc::Status MetaService::Commit(grpc::ServerContext* ctx, const CommitRequest* in, AttrReply* reply) {
  return Serve(ctx, in, reply, Access::kChange, [&](const CommitRequest* req) -> grpc::Status {
    return ToGrpc(store_->Commit(*req, reply));
  });
}

grpc::Status MetaService::PairAdd(grpc::ServerContext*, const PairAddRequest* req, Pair* reply) {
  Result<Pair> r = store_->PairAdd(req->name(), req->address_a(), req->address_b());
  if (!r.ok()) return ToGrpc(r.status());
  *reply = *r;
  return grpc::Status::OK;
}

grpc::Status MetaService::PairList(grpc::ServerContext*, const Empty*, PairListReply* reply) {
  for (const Pair& p : store_->PairList()) *reply->add_pairs() = p;
  return grpc::Status::OK;
}

grpc::Status MetaService::Fsck(grpc::ServerContext*, const Empty*, FsckReply* reply) {
  *reply = store_->Fsck();
  return grpc::Status::OK;
}

// ---- rebalance and drain (meta/rebalance_ops.cc) ----

grpc::Status MetaService::PairDrain(grpc::ServerContext*, const PairNameRequest* req, Pair* reply) {
  Result<Pair> r = store_->PairDrain(req->name());
  if (!r.ok()) return ToGrpc(r.status());
  *reply = *r;
  return grpc::Status::OK;
}

grpc::Status MetaService::PairRemove(grpc::ServerContext*, const PairNameRequest* req, Empty*) {
  return ToGrpc(store_->PairRemove(req->name()));
}

grpc::Status MetaService::MoveBegin(grpc::ServerContext*, const MoveBeginRequest* req,
                                    MoveBeginReply* reply) {
  return ToGrpc(store_->MoveBegin(*req, reply));
}

grpc::Status MetaService::MoveCommit(grpc::ServerContext*, const MoveCommitRequest* req,
                                     MoveCommitReply* reply) {
  return ToGrpc(store_->MoveCommit(*req, reply));
}

grpc::Status MetaService::MoveAbandon(grpc::ServerContext*, const MoveAbandonRequest* req, Empty*) {
  std::vector<uint64_t> inos;
  if (req->ino() != 0) inos.push_back(req->ino());
  return ToGrpc(store_->AbandonMoves(inos, req->all()));
}

grpc::Status MetaService::RebalanceReport(grpc::ServerContext*, const RebalanceProgress* req,
                                          RebalanceProgress* reply) {
  Result<RebalanceProgress> r = store_->ReportProgress(*req);
  if (!r.ok()) return ToGrpc(r.status());
  *reply = *r;
  return grpc::Status::OK;
}

grpc::Status MetaService::RebalanceStatus(grpc::ServerContext*, const Empty*,
                                          RebalanceProgress* reply) {
  *reply = store_->Progress();
  return grpc::Status::OK;
}

grpc::Status MetaService::RebalanceStop(grpc::ServerContext*, const Empty*, Empty*) {
  store_->RequestStop();
  return grpc::Status::OK;
}

grpc::Status MetaService::RequestSolo(grpc::ServerContext*, const GrantRequest* req,
                                      GrantReply* reply) {
  Result<GrantReply> r = authority_.RequestSolo(*req);
  if (!r.ok()) return ToGrpc(r.status());
  *reply = *r;
  return grpc::Status::OK;
}

grpc::Status MetaService::EndSolo(grpc::ServerContext*, const GrantRequest* req,
                                  GrantReply* reply) {
  Result<GrantReply> r = authority_.EndSolo(*req);
  if (!r.ok()) return ToGrpc(r.status());
  *reply = *r;
  return grpc::Status::OK;
}

grpc::Status MetaService::PairState(grpc::ServerContext*, const PairStateRequest* req,
                                    Pair* reply) {
  Result<Pair> r = authority_.PairState(req->pair_id());
  if (!r.ok()) return ToGrpc(r.status());
  *reply = *r;
  return grpc::Status::OK;
}

// ---- sessions ----

grpc::Status MetaService::OpenSession(grpc::ServerContext* ctx, const OpenSessionRequest* req,
                                      OpenSessionReply* reply) {
  Result<PeerIdentity> peer = PeerOf(*ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  if (peer->grant.subdir != "/") {
    // A mount of a subdirectory that is not there fails now, not at its first call.
    Result<SubtreeView> view = views_.For(peer->grant.subdir);
    if (!view.ok()) return ToGrpc(view.status());
  }
  Result<OpenSessionReply> r = store_->sessions().Open(*req);
  if (!r.ok()) return ToGrpc(r.status());
  *reply = *r;
  reply->set_subdir(peer->grant.subdir);
  reply->set_read_only(peer->grant.read_only);
  reply->set_root_squash(peer->grant.root_squash);
  return grpc::Status::OK;
}

grpc::Status MetaService::KeepAlive(grpc::ServerContext*, const SessionRef* req,
                                    KeepAliveReply* reply) {
  Status s = store_->sessions().KeepAlive(req->session());
  if (!s.ok()) return ToGrpc(s);
  reply->set_boot(store_->sessions().boot());
  return grpc::Status::OK;
}

grpc::Status MetaService::Reclaim(grpc::ServerContext* ctx, const ReclaimRequest* in, ReclaimReply* reply) {
  return Serve(ctx, in, reply, Access::kRead, [&](const ReclaimRequest* req) -> grpc::Status {
    SessionTable& sessions = store_->sessions();
    if (!sessions.Known(req->session())) {
      return ToGrpc(Status::Stale("no session " + std::to_string(req->session())));
    }
    for (uint64_t ino : req->open_inos()) {
      Status s = sessions.AddOpen(req->session(), ino);
      if (!s.ok()) return ToGrpc(s);
    }
    for (FileLock l : req->locks()) {
      l.set_session(req->session());
      LockTable::Answer a = locks_.Set(l, /*wait=*/false, /*reclaim=*/true);
      if (a.outcome != LockReply::GRANTED) *reply->add_lost() = l;
    }
    sessions.Reclaimed(req->session());
    LOG(INFO) << "session " << req->session() << " reclaimed " << req->open_inos_size()
              << " open files and " << req->locks_size() - reply->lost_size() << " locks";
    return grpc::Status::OK;
  });
}

grpc::Status MetaService::CloseSession(grpc::ServerContext*, const SessionRef* req, Empty*) {
  Result<std::vector<uint64_t>> inos = store_->sessions().Close(req->session());
  if (!inos.ok()) return ToGrpc(inos.status());
  keeper_.Ended(req->session(), *inos);
  return grpc::Status::OK;
}

grpc::Status MetaService::SessionEvents(grpc::ServerContext* ctx, const SessionRef* req,
                                        grpc::ServerWriter<SessionEvent>* writer) {
  SessionTable& sessions = store_->sessions();
  if (!sessions.Known(req->session())) {
    return ToGrpc(Status::Stale("no session " + std::to_string(req->session())));
  }
  Result<PeerIdentity> peer = PeerOf(*ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  std::vector<SessionEvent> events;
  while (!ctx->IsCancelled()) {
    if (!sessions.WaitEvents(req->session(), std::chrono::milliseconds(500), &events)) break;
    for (SessionEvent& e : events) {
      if (peer->grant.subdir != "/") {
        Result<SubtreeView> view = views_.For(peer->grant.subdir);
        if (view.ok()) view->MapReply(&e);
      }
      if (!writer->Write(e)) return grpc::Status::CANCELLED;
    }
  }
  return grpc::Status::OK;
}

grpc::Status MetaService::SessionList(grpc::ServerContext*, const Empty*,
                                      SessionListReply* reply) {
  *reply = store_->sessions().List();
  for (SessionInfo& i : *reply->mutable_sessions()) {
    i.set_locks(static_cast<uint32_t>(locks_.HeldBy(i.id()).size()));
  }
  return grpc::Status::OK;
}

// ---- locks ----

Status MetaService::CheckLockRequest(const LockRequest& req) const {
  const FileLock& l = req.lock();
  if (l.ino() == 0) return Status::Invalid("lock of inode 0");
  if (l.type() != F_RDLCK && l.type() != F_WRLCK && l.type() != F_UNLCK) {
    return Status::Invalid("lock type " + std::to_string(l.type()));
  }
  if (l.end() < l.start()) {
    return Status::Invalid("lock range [" + std::to_string(l.start()) + ", " +
                           std::to_string(l.end()) + "] ends before it starts");
  }
  if (!store_->sessions().Known(l.session())) {
    return Status::Stale("no session " + std::to_string(l.session()) + " (expired?)");
  }
  return Status::OK();
}

grpc::Status MetaService::SetLock(grpc::ServerContext* ctx, const LockRequest* in, LockReply* reply) {
  return Serve(ctx, in, reply, Access::kRead, [&](const LockRequest* req) -> grpc::Status {
    Status s = CheckLockRequest(*req);
    if (!s.ok()) return ToGrpc(s);
    const FileLock& l = req->lock();
    if (req->owner_gone()) {
      if (l.type() != F_UNLCK || l.start() != 0 || l.end() != UINT64_MAX || req->wait()) {
        return ToGrpc(Status::Invalid("owner_gone goes with an unlock of the whole file"));
      }
      locks_.ReleaseOwner(l.session(), l.owner(), l.ino(), l.flock());
      PostGrants(&locks_, &store_->sessions());
      reply->set_outcome(LockReply::GRANTED);
      return grpc::Status::OK;
    }
    LockTable::Answer a = locks_.Set(req->lock(), req->wait(), req->reclaim());
    PostGrants(&locks_, &store_->sessions());
    reply->set_outcome(a.outcome);
    if (a.outcome == LockReply::CONFLICT) *reply->mutable_conflict() = a.conflict;
    return grpc::Status::OK;
  });
}

grpc::Status MetaService::TestLock(grpc::ServerContext* ctx, const LockRequest* in, LockReply* reply) {
  return Serve(ctx, in, reply, Access::kRead, [&](const LockRequest* req) -> grpc::Status {
    Status s = CheckLockRequest(*req);
    if (!s.ok()) return ToGrpc(s);
    LockTable::Answer a = locks_.Test(req->lock());
    reply->set_outcome(a.outcome);
    if (a.outcome == LockReply::CONFLICT) *reply->mutable_conflict() = a.conflict;
    return grpc::Status::OK;
  });
}

grpc::Status MetaService::CancelLock(grpc::ServerContext* ctx, const LockRequest* in, LockReply* reply) {
  return Serve(ctx, in, reply, Access::kRead, [&](const LockRequest* req) -> grpc::Status {
    LockTable::Answer a = locks_.Cancel(req->lock());
    reply->set_outcome(a.outcome);
    return grpc::Status::OK;
  });
}

grpc::Status MetaService::LockList(grpc::ServerContext*, const LockListRequest* req,
                                   LockListReply* reply) {
  *reply = locks_.List(req->ino());
  const SessionListReply sessions = store_->sessions().List();
  auto host_of = [&](uint64_t id) {
    for (const SessionInfo& i : sessions.sessions()) {
      if (i.id() == id) return i.host() + ":" + i.mount_point();
    }
    return std::string("?");
  };
  for (FileLock& l : *reply->mutable_held()) l.set_host(host_of(l.session()));
  for (FileLock& l : *reply->mutable_waiting()) l.set_host(host_of(l.session()));
  return grpc::Status::OK;
}

}  // namespace scalefs::meta
