#include "meta/meta_policy.h"

#include "proto/meta.grpc.pb.h"

namespace scalefs::meta {

MethodPolicy MetaPolicy() {
  // A mount's calls, which admin tools (verify, fsck's walk) make too.
  const RoleMask mount = Role::kClient | Role::kAdmin;
  const RoleMask admin = Mask(Role::kAdmin);
  // A member asks meta for the right to write without its peer.
  const RoleMask member = Mask(Role::kMember);
  const std::pair<const char*, RoleMask> methods[] = {
      {"Lookup", mount},      {"GetAttr", mount},      {"SetAttr", mount},
      {"MakeNode", mount},    {"Link", mount},         {"Unlink", mount},
      {"Rename", mount},      {"ReadLink", mount},     {"ReadDir", mount},
      {"SetXattr", mount},    {"GetXattr", mount},     {"ListXattr", mount},
      {"RemoveXattr", mount}, {"StatFs", mount},       {"Allocate", mount},
      {"GetExtents", mount},  {"Commit", mount},       {"Release", mount},
      {"OpenSession", mount}, {"KeepAlive", mount},    {"Reclaim", mount},
      {"CloseSession", mount}, {"SessionEvents", mount}, {"SetLock", mount},
      {"TestLock", mount},    {"CancelLock", mount},
      // A mount needs the pairs' addresses; so does a member looking for meta's view.
      {"PairList", mount | Role::kMember},
      {"PairAdd", admin},     {"Fsck", admin},         {"SessionList", admin},
      {"LockList", admin},
      {"PairDrain", admin},   {"PairRemove", admin},   {"MoveBegin", admin},
      {"MoveCommit", admin},  {"MoveAbandon", admin},  {"RebalanceReport", admin},
      {"RebalanceStatus", admin}, {"RebalanceStop", admin},
      {"RequestSolo", member}, {"EndSolo", member},    {"PairState", member},
  };
  MethodPolicy policy;
  for (const auto& [name, roles] : methods) {
    policy["/" + std::string(Meta::service_full_name()) + "/" + name] = roles;
  }
  return policy;
}

}  // namespace scalefs::meta
