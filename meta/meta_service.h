// The gRPC face of MetaStore: unpacks requests, calls the store, packs the
// reply and turns the Status into a gRPC status (errno in the details).
#pragma once

#include "meta/meta_store.h"
#include "meta/pair_authority.h"
#include "proto/meta.grpc.pb.h"

namespace scalefs::meta {

class MetaService final : public Meta::Service {
 public:
  explicit MetaService(MetaStore* store) : store_(store), authority_(store) {}

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
  grpc::Status Trim(grpc::ServerContext*, const TrimRequest*, Empty*) override;
  grpc::Status PairAdd(grpc::ServerContext*, const PairAddRequest*, Pair*) override;
  grpc::Status PairList(grpc::ServerContext*, const Empty*, PairListReply*) override;
  grpc::Status Fsck(grpc::ServerContext*, const Empty*, FsckReply*) override;
  grpc::Status RequestSolo(grpc::ServerContext*, const GrantRequest*, GrantReply*) override;
  grpc::Status EndSolo(grpc::ServerContext*, const GrantRequest*, GrantReply*) override;
  grpc::Status PairState(grpc::ServerContext*, const PairStateRequest*, Pair*) override;

 private:
  MetaStore* store_;
  PairAuthority authority_;
};

}  // namespace scalefs::meta
