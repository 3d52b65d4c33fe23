// Why a daemon cannot listen on an address, in words a user can act on: the
// servers scalefs embeds (gRPC, the metrics endpoint) only say that they
// failed, so the address is bound once more by hand to learn the reason.
#pragma once

#include <string>

namespace scalefs {

// "port 7600 is in use by another process", "cannot resolve it: ...", or
// `fallback` when a plain bind(2) of the address succeeds.
std::string BindError(const std::string& address, const std::string& fallback);

}  // namespace scalefs
