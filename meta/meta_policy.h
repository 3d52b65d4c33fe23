// Who may call which meta method: one table, checked before any handler.
#pragma once

#include "common/rpc_authorizer.h"

namespace scalefs::meta {

MethodPolicy MetaPolicy();

}  // namespace scalefs::meta
