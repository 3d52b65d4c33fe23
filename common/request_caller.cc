#include "common/request_caller.h"

#include <charconv>

namespace scalefs {

std::string FormatCaller(const RequestCaller& c) {
  return std::to_string(c.uid) + ":" + std::to_string(c.gid);
}

std::optional<RequestCaller> ParseCaller(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto number = [](std::string_view s, uint32_t* out) {
    if (s.empty()) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && end == s.data() + s.size();
  };
  RequestCaller c;
  if (!number(text.substr(0, colon), &c.uid) || !number(text.substr(colon + 1), &c.gid)) {
    return std::nullopt;
  }
  return c;
}

}  // namespace scalefs
