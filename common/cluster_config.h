// Where a command finds the cluster: --meta, else $SCALEFS_META, else the
// local cluster that deploy/up started (its state folder's meta.addr).
#pragma once

#include <string>

namespace scalefs {

// $SCALEFS_STATE, else /var/lib/scalefs.
std::string LocalStateDir();
// The first non-empty of: flag_value, $SCALEFS_META, <state>/meta.addr,
// "127.0.0.1:7600".
std::string ResolveMetaAddress(const std::string& flag_value);

}  // namespace scalefs
