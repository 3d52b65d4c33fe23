#include "fsd/meta_client.h"
#include "common/rpc_channel.h"

#include <gflags/gflags.h>

#include <algorithm>
#include <chrono>

#include "common/layout.h"
#include "common/rpc_status.h"

DEFINE_int32(meta_timeout_ms, 30000,
             "how long a metadata call waits for scalefs-meta, restarts included");

namespace scalefs {

MetaClient::MetaClient(const std::string& address, int timeout_ms)
    : address_(address), timeout_ms_(timeout_ms > 0 ? timeout_ms : FLAGS_meta_timeout_ms) {
  channel_ = NewChannel(address);
  stub_ = meta::Meta::NewStub(channel_);
}

template <typename Fn>
Status MetaClient::Call(const char* what, Fn&& fn, int timeout_ms) {
  grpc::ClientContext ctx;
  ctx.set_wait_for_ready(true);
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : timeout_ms_));
  grpc::Status s = fn(&ctx);
  if (s.ok()) return Status::OK();
  Status st = FromGrpc(s, std::string("meta ") + what);
  // A transport failure may have happened after meta applied the call: it is
  // not retried, and the application sees EIO.
  if (st.code() == Status::Code::kUnavailable) return Status::IoError(st.message());
  return st;
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

Result<meta::AttrReply> MetaClient::SetAttr(const meta::SetAttrRequest& req) {
  meta::AttrReply rep;
  Status s = Call("SetAttr", [&](grpc::ClientContext* c) { return stub_->SetAttr(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::AttrReply> MetaClient::MakeNode(const meta::MakeNodeRequest& req) {
  meta::AttrReply rep;
  Status s =
      Call("MakeNode", [&](grpc::ClientContext* c) { return stub_->MakeNode(c, req, &rep); });
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
  Status s = Call("Link", [&](grpc::ClientContext* c) { return stub_->Link(c, req, &rep); });
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
      Call("Unlink", [&](grpc::ClientContext* c) { return stub_->Unlink(c, req, &rep); });
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
  return Call("Rename", [&](grpc::ClientContext* c) { return stub_->Rename(c, req, &rep); });
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
  return Call("SetXattr", [&](grpc::ClientContext* c) { return stub_->SetXattr(c, req, &rep); });
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
  return Call("RemoveXattr",
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
      Call("Allocate", [&](grpc::ClientContext* c) { return stub_->Allocate(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::ExtentsReply> MetaClient::GetExtents(uint64_t ino, uint64_t offset,
                                                  uint64_t length) {
  meta::ExtentsRequest req;
  req.set_ino(ino);
  req.set_offset(offset);
  req.set_length(length);
  meta::ExtentsReply rep;
  Status s =
      Call("GetExtents", [&](grpc::ClientContext* c) { return stub_->GetExtents(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Result<meta::AttrReply> MetaClient::Commit(const meta::CommitRequest& req) {
  meta::AttrReply rep;
  Status s = Call("Commit", [&](grpc::ClientContext* c) { return stub_->Commit(c, req, &rep); });
  if (!s.ok()) return s;
  return rep;
}

Status MetaClient::Trim(const meta::TrimRequest& req) {
  meta::Empty rep;
  return Call("Trim", [&](grpc::ClientContext* c) { return stub_->Trim(c, req, &rep); });
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

}  // namespace scalefs
