#include "fsd/client_session.h"

#include <glog/logging.h>

#include "common/rpc_status.h"

namespace scalefs {

ClientSession::ClientSession(MetaClient* meta, meta::SessionInfo info)
    : meta_(meta), info_(std::move(info)) {
  meta_->set_calls(&calls_);
}

ClientSession::~ClientSession() {
  Close();
  meta_->set_calls(nullptr);
}

Status ClientSession::Open() {
  meta::OpenSessionRequest req;
  *req.mutable_info() = info_;
  auto r = meta_->OpenSession(req);
  if (!r.ok()) return r.status();
  calls_.Reset(r->session());
  boot_ = r->boot();
  lease_ms_ = r->lease_ms();
  if (!r->subdir().empty()) subdir_ = r->subdir();
  read_only_ = r->read_only();
  root_squash_ = r->root_squash();
  meta_->set_name_callers(root_squash_);
  LOG(INFO) << "session " << r->session() << " at meta " << meta_->address() << ", lease "
            << r->lease_ms() << " ms" << (subdir_ != "/" ? ", limited to " + subdir_ : "")
            << (read_only_ ? ", read-only" : "")
            << (root_squash_ ? ", root acts as nobody (root_squash)" : "");
  return Status::OK();
}

void ClientSession::Start(HoldingsFn holdings, EventFn on_event) {
  holdings_ = std::move(holdings);
  on_event_ = std::move(on_event);
  renew_ = std::thread([this] { RenewLoop(); });
  events_ = std::thread([this] { EventLoop(); });
}

void ClientSession::Close() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
    if (stream_ctx_ != nullptr) stream_ctx_->TryCancel();
  }
  stop_cv_.notify_all();
  if (renew_.joinable()) renew_.join();
  if (events_.joinable()) events_.join();
  const uint64_t id = calls_.session();
  if (id == 0) return;
  Status s = meta_->CloseSession(id);
  if (!s.ok()) LOG(WARNING) << "closing session " << id << ": " << s.ToString();
  calls_.Reset(0);
}

bool ClientSession::WaitStop(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return stop_cv_.wait_for(lock, d, [&] { return stop_; });
}

void ClientSession::RenewLoop() {
  while (!WaitStop(std::chrono::milliseconds(lease_ms_.load() / 3))) {
    const uint64_t id = calls_.session();
    auto r = meta_->KeepAlive(id);
    if (r.ok() && r->boot() == boot_.load()) continue;
    if (!r.ok() && r.status().code() != Status::Code::kNotFound) {
      LOG(WARNING) << "renewing session " << id << ": " << r.status().ToString();
      continue;
    }
    Reestablish(r.ok() ? "meta restarted" : "meta does not know the session");
  }
}

void ClientSession::EventLoop() {
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stream_ctx_ = &ctx;
    }
    meta::SessionRef ref;
    ref.set_session(calls_.session());
    std::unique_ptr<grpc::ClientReader<meta::SessionEvent>> reader =
        meta_->stub()->SessionEvents(&ctx, ref);
    meta::SessionEvent e;
    while (reader->Read(&e)) on_event_(e);
    grpc::Status st = reader->Finish();
    {
      std::lock_guard lock(mu_);
      stream_ctx_ = nullptr;
      if (stop_) return;
    }
    VLOG(1) << "session stream ended: " << st.error_message();
    // A broken stream is what a meta restart looks like first: take the
    // session up again at once, so the grace period is short.
    if (WaitStop(std::chrono::milliseconds(100))) return;
    Reestablish("the session stream broke");
  }
}

void ClientSession::Reestablish(const char* why) {
  std::lock_guard guard(establish_mu_);
  const uint64_t old = calls_.session();
  meta::OpenSessionRequest req;
  *req.mutable_info() = info_;
  req.set_resume(old);
  auto r = meta_->OpenSession(req);
  if (!r.ok()) {
    LOG(WARNING) << "taking up session " << old << " (" << why << "): " << r.status().ToString();
    return;
  }
  const bool same = r->session() == old;
  if (same && !r->reclaim() && r->boot() == boot_.load()) return;  // nothing happened
  boot_ = r->boot();
  lease_ms_ = r->lease_ms();
  if (!same) {
    LOG(ERROR) << "session " << old << " expired at meta; continuing as session " << r->session()
               << ": files unlinked while open may have lost their data, and locks are "
                  "taken again where still free";
    calls_.Reset(r->session());
  }
  if (!same || r->reclaim()) {
    // No open's release, unlock or grant changes the holdings between the
    // snapshot and meta's taking it (fsd/holdings_gate.h).
    auto hold = meta_->holdings_gate().Reclaim();
    Holdings h = holdings_ ? holdings_() : Holdings();
    meta::ReclaimRequest rr;
    rr.set_session(r->session());
    for (uint64_t ino : h.open_inos) rr.add_open_inos(ino);
    for (meta::FileLock& l : h.locks) {
      l.set_session(r->session());
      *rr.add_locks() = std::move(l);
    }
    auto rep = meta_->Reclaim(rr);
    if (!rep.ok()) {
      LOG(ERROR) << "reclaim of session " << r->session() << ": " << rep.status().ToString();
      return;
    }
    for (const meta::FileLock& l : rep->lost()) {
      LOG(ERROR) << "lock lost across the meta restart: inode " << l.ino() << " owner "
                 << l.owner() << " [" << l.start() << ", " << l.end() << "]";
    }
    LOG(INFO) << "session " << r->session() << " reclaimed " << rr.open_inos_size()
              << " open files and " << rr.locks_size() << " locks (" << why << ")";
  }
  reestablished_.fetch_add(1);
}

}  // namespace scalefs
