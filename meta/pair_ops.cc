// The pair registry of MetaStore: pairs join (PairAdd), are listed, change
// state under meta's grants (UpdatePair, for PairAuthority), are drained
// (PairDrain: no new allocation, a rebalance moves their extents off) and
// removed once empty (PairRemove).
#include <glog/logging.h>

#include "common/layout.h"
#include "meta/keys.h"
#include "meta/meta_store.h"
#include "meta/txn.h"

namespace scalefs::meta {

Result<Pair> MetaStore::PairAdd(const std::string& name, const std::string& address_a,
                                const std::string& address_b) {
  if (!ValidPairName(name)) {
    return Status::Invalid("pair name " + Quote(name) + " must match [A-Za-z0-9_.-]{1,64}");
  }
  if (address_a.empty() || address_b.empty()) return Status::Invalid("member address is empty");
  if (address_a == address_b) {
    return Status::Invalid("members A and B have the same address " + address_a);
  }
  std::lock_guard<std::mutex> pl(pair_mu_);
  uint32_t id;
  {
    MutationLock l(this);
    for (const auto& [pid, p] : pairs_) {
      if (p.name() == name) return Status::Exists("pair " + Quote(name) + " exists");
      for (const std::string& addr : {address_a, address_b}) {
        if (addr == p.address_a() || addr == p.address_b()) {
          return Status::Exists("address " + addr + " is already member of pair " + p.name());
        }
      }
    }
    id = next_pair_;
  }
  const std::string addrs[2] = {address_a, address_b};
  const char* labels[2] = {"A", "B"};
  chunk::InfoReply info[2];
  for (int i = 0; i < 2; i++) {
    Result<chunk::InfoReply> r = prober_.Info(addrs[i]);
    if (!r.ok()) {
      return Status(r.status().code() == Status::Code::kUnavailable ? Status::Code::kUnavailable
                                                                     : r.status().code(),
                    std::string("member ") + labels[i] + " at " + addrs[i] +
                        " unreachable: " + r.status().message());
    }
    info[i] = *r;
  }
  for (int i = 0; i < 2; i++) {
    const std::string& other = addrs[1 - i];
    if (info[i].peer_address() != other) {
      return Status::Invalid(std::string("member ") + labels[i] + " at " + addrs[i] +
                             " is configured with peer " + info[i].peer_address() + ", not " +
                             other);
    }
    // A member already joined to this very pair id is a retry of an add
    // that failed half-way (meta persists the pair only after both joins).
    const bool retry = info[i].pair_name() == name && info[i].pair_id() == id;
    if (!info[i].pair_name().empty() && !retry) {
      return Status::Exists(std::string("member ") + labels[i] + " at " + addrs[i] +
                            " already belongs to pair " + info[i].pair_name());
    }
  }
  const uint64_t capacity =
      RoundDown(std::min(info[0].device_size(), info[1].device_size()), kBlockSize);
  if (capacity == 0) return Status::Invalid("pair " + Quote(name) + " has no capacity");
  for (int i = 0; i < 2; i++) {
    chunk::JoinRequest jr;
    jr.set_pair_name(name);
    jr.set_pair_id(id);
    jr.set_member_index(i);
    jr.set_peer_address(addrs[1 - i]);
    jr.set_generation(1);
    jr.set_capacity(capacity);
    jr.set_meta_address(listen_address_);
    Status s = prober_.Join(addrs[i], jr);
    if (!s.ok()) {
      return s.Annotate(std::string("join member ") + labels[i] + " at " + addrs[i]);
    }
  }
  Pair p;
  p.set_id(id);
  p.set_name(name);
  p.set_address_a(address_a);
  p.set_address_b(address_b);
  p.set_capacity(capacity);
  p.set_generation(1);
  MutationLock l(this);
  Txn txn(db_.get());
  txn.batch.Put(PairKey(id), p.SerializeAsString());
  txn.batch.Put(std::string(kNextPairKey), EncodeU64(id + 1));
  space_.AddPair(id, capacity, &txn.batch);
  txn.space_changed = true;
  Status s = ApplyLocked(&txn);
  if (!s.ok()) return s;
  next_pair_ = id + 1;
  pairs_[id] = p;
  p.set_free(capacity);
  LOG(INFO) << "added pair " << id << " " << name << " (" << address_a << ", " << address_b
            << "), " << capacity << " bytes";
  return p;
}

Result<uint32_t> MetaStore::PairIdLocked(const std::string& name) const {
  for (const auto& [id, p] : pairs_) {
    if (p.name() == name) return id;
  }
  return Status::NotFound("no pair named " + Quote(name) + " (scalefs pair list shows them)");
}

Result<Pair> MetaStore::PairDrain(const std::string& name) {
  MutationLock l(this);
  Result<uint32_t> id = PairIdLocked(name);
  if (!id.ok()) return id.status();
  Pair p = pairs_[*id];
  if (p.draining()) return Status::Busy("pair " + Quote(name) + " is already draining");
  uint64_t room = 0, takers = 0;
  for (const auto& [pid, q] : pairs_) {
    if (pid == *id || q.draining()) continue;
    takers++;
    room += space_.FreeBytes(pid);
  }
  const uint64_t used = p.capacity() - space_.FreeBytes(*id);
  if (takers == 0) {
    return Status::Invalid("pair " + Quote(name) +
                           " is the last pair that takes data: add one first (scalefs pair add)");
  }
  if (used > room) {
    return Status::NoSpace("pair " + Quote(name) + " holds " + std::to_string(used) +
                           " bytes, the other pairs have " + std::to_string(room) + " free");
  }
  p.set_draining(true);
  Txn txn(db_.get());
  p.clear_free();
  txn.batch.Put(PairKey(*id), p.SerializeAsString());
  Status s = ApplyLocked(&txn);
  if (!s.ok()) return s;
  pairs_[*id] = p;
  space_.SetDraining(*id, true);
  LOG(INFO) << "pair " << *id << " " << name << " draining: " << used << " bytes to move off";
  p.set_free(space_.FreeBytes(*id));
  return p;
}

Status MetaStore::PairRemove(const std::string& name) {
  MutationLock l(this);
  Result<uint32_t> id = PairIdLocked(name);
  if (!id.ok()) return id.status();
  const Pair& p = pairs_[*id];
  const uint64_t used = p.capacity() - space_.FreeBytes(*id);
  if (used != 0) {
    return Status::Busy("pair " + Quote(name) + " still holds " + std::to_string(used) +
                        " bytes: drain it first (scalefs pair drain " + name +
                        ", which moves its extents off)");
  }
  for (const auto& [ino, m] : moves_) {
    for (const MoveSpan& sp : m.spans()) {
      if (sp.to_pair() == *id) {
        return Status::Busy("pair " + Quote(name) + " holds the target space of the move of " +
                            InoStr(ino) + " (freed within 30 s of its end)");
      }
    }
  }
  Txn txn(db_.get());
  txn.batch.Delete(PairKey(*id));
  space_.RemovePair(*id, &txn.batch);
  txn.space_changed = true;
  Status s = ApplyLocked(&txn);
  if (!s.ok()) return s;
  LOG(INFO) << "pair " << *id << " " << name << " removed (" << p.capacity() << " bytes)";
  pairs_.erase(*id);
  return Status::OK();
}

std::vector<Pair> MetaStore::PairList() {
  MutationLock l(this);
  std::vector<Pair> out;
  for (const auto& [id, p] : pairs_) {
    out.push_back(p);
    out.back().set_free(space_.FreeBytes(id));
  }
  return out;
}

Result<Pair> MetaStore::UpdatePair(uint32_t id, const std::function<bool(Pair*)>& change) {
  MutationLock l(this);
  auto it = pairs_.find(id);
  if (it == pairs_.end()) return Status::NotFound("no pair with id " + std::to_string(id));
  Pair p = it->second;
  if (change(&p)) {
    Txn txn(db_.get());
    p.clear_free();
    txn.batch.Put(PairKey(id), p.SerializeAsString());
    Status s = ApplyLocked(&txn);
    if (!s.ok()) return s;
    it->second = p;
  }
  p.set_free(space_.FreeBytes(id));
  return p;
}

}  // namespace scalefs::meta
