// The user behind a mount's call to meta, as the client kernel names it for
// the FUSE request (uid and gid). It travels in the gRPC metadata of the
// call; meta relies on it only to squash root (meta/access_check.h), as an
// NFS server relies on AUTH_SYS credentials.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace scalefs {

inline constexpr char kCallerMetadataKey[] = "scalefs-caller";

struct RequestCaller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool operator==(const RequestCaller&) const = default;
};

// "UID:GID".
std::string FormatCaller(const RequestCaller& caller);
// nullopt for anything but two decimal 32-bit numbers joined by ':'.
std::optional<RequestCaller> ParseCaller(std::string_view text);

}  // namespace scalefs
