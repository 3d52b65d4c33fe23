// Who may call which method of a member: one table, checked before any handler.
#pragma once

#include "common/rpc_authorizer.h"

namespace scalefs {

MethodPolicy ChunkPolicy();

}  // namespace scalefs
