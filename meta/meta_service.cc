#include "meta/meta_service.h"

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

grpc::Status MetaService::Lookup(grpc::ServerContext*, const LookupRequest* req, AttrReply* reply) {
  return AttrOut(store_->Lookup(req->parent(), req->name()), reply);
}

grpc::Status MetaService::GetAttr(grpc::ServerContext*, const InodeRequest* req, AttrReply* reply) {
  return AttrOut(store_->GetAttr(req->ino()), reply);
}

grpc::Status MetaService::SetAttr(grpc::ServerContext*, const SetAttrRequest* req,
                                  AttrReply* reply) {
  return AttrOut(store_->SetAttr(*req), reply);
}

grpc::Status MetaService::MakeNode(grpc::ServerContext*, const MakeNodeRequest* req,
                                   AttrReply* reply) {
  Attr parent;
  std::vector<Extent> prealloc;
  grpc::Status st = AttrOut(store_->MakeNode(*req, &parent, &prealloc), reply);
  if (!st.ok()) return st;
  *reply->mutable_parent_attr() = parent;
  for (Extent& e : prealloc) *reply->add_extents() = std::move(e);
  return st;
}

grpc::Status MetaService::Link(grpc::ServerContext*, const LinkRequest* req, AttrReply* reply) {
  return AttrOut(store_->Link(req->ino(), req->new_parent(), req->new_name()), reply);
}

grpc::Status MetaService::Unlink(grpc::ServerContext*, const UnlinkRequest* req,
                                 AttrReply* reply) {
  return ToGrpc(store_->Unlink(req->parent(), req->name(), req->directory(),
                               reply->mutable_parent_attr()));
}

grpc::Status MetaService::Rename(grpc::ServerContext*, const RenameRequest* req, Empty*) {
  return ToGrpc(store_->Rename(*req));
}

grpc::Status MetaService::ReadLink(grpc::ServerContext*, const InodeRequest* req,
                                   ReadLinkReply* reply) {
  Result<std::string> r = store_->ReadLink(req->ino());
  if (!r.ok()) return ToGrpc(r.status());
  reply->set_target(*r);
  return grpc::Status::OK;
}

grpc::Status MetaService::ReadDir(grpc::ServerContext*, const ReadDirRequest* req,
                                  ReadDirReply* reply) {
  Result<DirPage> r = store_->ReadDir(req->ino(), req->after(), req->limit(), req->extents_max_size());
  if (!r.ok()) return ToGrpc(r.status());
  for (DirEntry& e : r->entries) *reply->add_entries() = std::move(e);
  reply->set_more(r->more);
  return grpc::Status::OK;
}

grpc::Status MetaService::SetXattr(grpc::ServerContext*, const SetXattrRequest* req, Empty*) {
  return ToGrpc(
      store_->SetXattr(req->ino(), req->name(), req->value(), req->flags(), req->acl_kill_sgid()));
}

grpc::Status MetaService::GetXattr(grpc::ServerContext*, const XattrRequest* req,
                                   XattrReply* reply) {
  Result<std::string> r = store_->GetXattr(req->ino(), req->name());
  if (!r.ok()) return ToGrpc(r.status());
  reply->set_value(*r);
  return grpc::Status::OK;
}

grpc::Status MetaService::ListXattr(grpc::ServerContext*, const InodeRequest* req,
                                    ListXattrReply* reply) {
  Result<std::vector<std::string>> r = store_->ListXattr(req->ino());
  if (!r.ok()) return ToGrpc(r.status());
  for (const std::string& n : *r) reply->add_names(n);
  return grpc::Status::OK;
}

grpc::Status MetaService::RemoveXattr(grpc::ServerContext*, const XattrRequest* req, Empty*) {
  return ToGrpc(store_->RemoveXattr(req->ino(), req->name()));
}

grpc::Status MetaService::StatFs(grpc::ServerContext*, const Empty*, StatFsReply* reply) {
  *reply = store_->StatFs();
  return grpc::Status::OK;
}

grpc::Status MetaService::Allocate(grpc::ServerContext*, const AllocateRequest* req,
                                   ExtentsReply* reply) {
  return ExtentsOut(store_->Allocate(req->ino(), req->offset(), req->length(), req->set_size()),
                    reply);
}

grpc::Status MetaService::GetExtents(grpc::ServerContext*, const ExtentsRequest* req,
                                     ExtentsReply* reply) {
  return ExtentsOut(store_->GetExtents(req->ino(), req->offset(), req->length()), reply);
}

grpc::Status MetaService::Trim(grpc::ServerContext*, const TrimRequest* req, Empty*) {
  return ToGrpc(store_->Trim(std::vector<FileTrim>(req->files().begin(), req->files().end())));
}

grpc::Status MetaService::Commit(grpc::ServerContext*, const CommitRequest* req,
                                 AttrReply* reply) {
  std::vector<ByteRange> ranges(req->written().begin(), req->written().end());
  std::vector<ByteRange> trim(req->trim().begin(), req->trim().end());
  return AttrOut(
      store_->Commit(req->ino(), ranges, req->new_size(), req->mtime_ns(), trim, req->alloc_gen()),
      reply);
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

}  // namespace scalefs::meta
