// ACL xattr values for tests, built and read without the code under test.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "meta/posix_acl.h"

namespace scalefs::meta::testing {

// An xattr value as the kernel and libacl write it: version, then entries.
inline std::string AclXattr(const std::vector<AclEntry>& entries, uint32_t version = 2) {
  std::string out;
  auto put = [&out](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put(version, 4);
  for (const AclEntry& e : entries) {
    put(e.tag, 2);
    put(e.perm, 2);
    put(e.id, 4);
  }
  return out;
}

// "u::rw- u:1000:r-- g::r-- m::r-- o::---", as getfacl's short form.
inline std::string AclText(const std::vector<AclEntry>& entries) {
  std::string out;
  for (const AclEntry& e : entries) {
    if (!out.empty()) out += " ";
    switch (e.tag) {
      case kAclUserObj: out += "u::"; break;
      case kAclUser: out += "u:" + std::to_string(e.id) + ":"; break;
      case kAclGroupObj: out += "g::"; break;
      case kAclGroup: out += "g:" + std::to_string(e.id) + ":"; break;
      case kAclMask: out += "m::"; break;
      case kAclOther: out += "o::"; break;
      default: out += "?::"; break;
    }
    out += (e.perm & 4) ? "r" : "-";
    out += (e.perm & 2) ? "w" : "-";
    out += (e.perm & 1) ? "x" : "-";
  }
  return out;
}

// AclText of an xattr value, read entry by entry without PosixAcl::Parse.
inline std::string AclText(const std::string& xattr) {
  std::vector<AclEntry> entries;
  auto get = [&xattr](size_t off, int bytes) {
    uint32_t v = 0;
    for (int i = 0; i < bytes; i++) {
      v |= uint32_t{static_cast<unsigned char>(xattr[off + i])} << (8 * i);
    }
    return v;
  };
  if (xattr.size() < 4 || (xattr.size() - 4) % 8 != 0 || get(0, 4) != 2) return "malformed";
  for (size_t off = 4; off < xattr.size(); off += 8) {
    entries.push_back({static_cast<uint16_t>(get(off, 2)), static_cast<uint16_t>(get(off + 2, 2)),
                       get(off + 4, 4)});
  }
  return AclText(entries);
}

}  // namespace scalefs::meta::testing
