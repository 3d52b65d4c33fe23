// The gRPC face of meta: the store's operations, the sessions of mounted
// clients and their locks. Unpacks requests, calls the component, packs the
// reply and turns the Status into a gRPC status (errno in the details).
#pragma once

#include "common/lock_table.h"
#include "common/rpc_authorizer.h"
#include "common/rpc_status.h"
#include "meta/meta_store.h"
#include "meta/pair_authority.h"
#include "meta/permission_check.h"
#include "meta/session_keeper.h"
#include "meta/subtree_view.h"
#include "proto/meta.grpc.pb.h"

namespace scalefs::meta {

class MetaService final : public Meta::Service {
 public:
  explicit MetaService(MetaStore* store)
      : store_(store),
        authority_(store),
        views_(store),
        permissions_(store),
        keeper_(store, &locks_) {}

  grpc::Status Lookup(grpc::ServerContext*, const LookupRequest*, AttrReply*) override;
  grpc::Status GetAttr(grpc::ServerContext*, const InodeRequest*, AttrReply*) override;
  grpc::Status SetAttr(grpc::ServerContext*, const SetAttrRequest*, AttrReply*) override;
  grpc::Status MakeNode(grpc::ServerContext*, const MakeNodeRequest*, AttrReply*) override;
  grpc::Status Link(grpc::ServerContext*, const LinkRequest*, AttrReply*) override;
  grpc::Status Unlink(grpc::ServerContext*, const UnlinkRequest*, AttrReply*) override;
  grpc::Status Rename(grpc::ServerContext*, const RenameRequest*, Empty*) override;
  grpc::Status ReadLink(grpc::ServerContext*, const InodeRequest*, ReadLinkReply*) override;
  grpc::Status ReadDir(grpc::ServerContext*, const ReadDirRequest*, ReadDirReply*) override;
  grpc::Status SetXattr(grpc::ServerContext*, const SetXattrRequest*, Empty*) override;
  grpc::Status GetXattr(grpc::ServerContext*, const XattrRequest*, XattrReply*) override;
  grpc::Status ListXattr(grpc::ServerContext*, const InodeRequest*, ListXattrReply*) override;
  grpc::Status RemoveXattr(grpc::ServerContext*, const XattrRequest*, Empty*) override;
  grpc::Status StatFs(grpc::ServerContext*, const Empty*, StatFsReply*) override;
  grpc::Status Allocate(grpc::ServerContext*, const AllocateRequest*, ExtentsReply*) override;
  grpc::Status GetExtents(grpc::ServerContext*, const ExtentsRequest*, ExtentsReply*) override;
  grpc::Status Commit(grpc::ServerContext*, const CommitRequest*, AttrReply*) override;
  grpc::Status Release(grpc::ServerContext*, const ReleaseRequest*, Empty*) override;
  grpc::Status PairAdd(grpc::ServerContext*, const PairAddRequest*, Pair*) override;
  grpc::Status PairList(grpc::ServerContext*, const Empty*, PairListReply*) override;
  grpc::Status Fsck(grpc::ServerContext*, const Empty*, FsckReply*) override;
  grpc::Status PairDrain(grpc::ServerContext*, const PairNameRequest*, Pair*) override;
  grpc::Status PairRemove(grpc::ServerContext*, const PairNameRequest*, Empty*) override;
  grpc::Status MoveBegin(grpc::ServerContext*, const MoveBeginRequest*, MoveBeginReply*) override;
  grpc::Status MoveCommit(grpc::ServerContext*, const MoveCommitRequest*,
                          MoveCommitReply*) override;
  grpc::Status MoveAbandon(grpc::ServerContext*, const MoveAbandonRequest*, Empty*) override;
  grpc::Status RebalanceReport(grpc::ServerContext*, const RebalanceProgress*,
                               RebalanceProgress*) override;
  grpc::Status RebalanceStatus(grpc::ServerContext*, const Empty*, RebalanceProgress*) override;
  grpc::Status RebalanceStop(grpc::ServerContext*, const Empty*, Empty*) override;
  grpc::Status RequestSolo(grpc::ServerContext*, const GrantRequest*, GrantReply*) override;
  grpc::Status EndSolo(grpc::ServerContext*, const GrantRequest*, GrantReply*) override;
  grpc::Status PairState(grpc::ServerContext*, const PairStateRequest*, Pair*) override;

  grpc::Status OpenSession(grpc::ServerContext*, const OpenSessionRequest*,
                           OpenSessionReply*) override;
  grpc::Status KeepAlive(grpc::ServerContext*, const SessionRef*, KeepAliveReply*) override;
  grpc::Status Reclaim(grpc::ServerContext*, const ReclaimRequest*, ReclaimReply*) override;
  grpc::Status CloseSession(grpc::ServerContext*, const SessionRef*, Empty*) override;
  grpc::Status SessionEvents(grpc::ServerContext*, const SessionRef*,
                             grpc::ServerWriter<SessionEvent>*) override;
  grpc::Status SessionList(grpc::ServerContext*, const Empty*, SessionListReply*) override;
  grpc::Status SetLock(grpc::ServerContext*, const LockRequest*, LockReply*) override;
  grpc::Status TestLock(grpc::ServerContext*, const LockRequest*, LockReply*) override;
  grpc::Status CancelLock(grpc::ServerContext*, const LockRequest*, LockReply*) override;
  grpc::Status LockList(grpc::ServerContext*, const LockListRequest*, LockListReply*) override;

  const LockTable& locks() const { return locks_; }

 private:
  enum class Access { kRead, kChange };
  template <typename Req>
  using Check = Status (PermissionCheck::*)(Req*, const Identity&) const;

  // Runs a mount's call under its certificate's grant: a change from a
  // read-only client is refused with EROFS, a client limited to a
  // subdirectory has its inodes mapped (and checked) by a SubtreeView, and
  // the root user of a client that squashes root passes `check` as nobody
  // first (meta/permission_check.h).
  template <typename Req, typename Reply, typename Fn>
  grpc::Status Serve(grpc::ServerContext* ctx, const Req* req, Reply* reply, Access access,
                     Fn&& fn) {
    return Serve(ctx, req, reply, access, Check<Req>(nullptr), std::forward<Fn>(fn));
  }
  template <typename Req, typename Reply, typename Fn>
  grpc::Status Serve(grpc::ServerContext* ctx, const Req* req, Reply* reply, Access access,
                     Check<Req> check, Fn&& fn) {
    Result<PeerIdentity> peer = PeerOf(*ctx);
    if (!peer.ok()) return ToGrpc(peer.status());
    const ClientGrant& grant = peer->grant;
    if (grant.read_only && access == Access::kChange) {
      return ToGrpc(Status(Status::Code::kReadOnly,
                           "client '" + peer->name + "' has a read-only certificate"));
    }
    const bool squash = grant.root_squash && check != nullptr && CallerIsRoot(*ctx);
    if (grant.subdir == "/" && !squash) return fn(req);
    std::optional<SubtreeView> view;
    if (grant.subdir != "/") {
      Result<SubtreeView> v = views_.For(grant.subdir);
      if (!v.ok()) return ToGrpc(v.status());
      view.emplace(std::move(*v));
    }
    Req mapped = *req;
    if (view) {
      if (Status s = view->MapRequest(&mapped); !s.ok()) return ToGrpc(s);
    }
    if (squash) {
      if (Status s = (permissions_.*check)(&mapped, kSquashedRoot); !s.ok()) return ToGrpc(s);
    }
    grpc::Status st = fn(&mapped);
    if (st.ok() && view) view->MapReply(reply);
    return st;
  }
  // The call names uid 0 as its caller, or no caller (fsd's own calls):
  // either acts as nobody under root_squash.
  static bool CallerIsRoot(const grpc::ServerContext& ctx);

  // Locks are held for sessions meta knows; Stale otherwise (expired).
  Status CheckLockRequest(const LockRequest& req) const;

  MetaStore* store_;
  PairAuthority authority_;
  SubtreeViews views_;
  PermissionCheck permissions_;
  LockTable locks_;
  SessionKeeper keeper_;  // last: its thread uses the members above
};

}  // namespace scalefs::meta
