// The version every scalefs program reports (and a mount gives meta).
#pragma once

namespace scalefs {
inline constexpr const char* kScalefsVersion = "0.13.0";
}  // namespace scalefs
