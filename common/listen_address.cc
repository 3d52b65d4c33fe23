#include "common/listen_address.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace scalefs {

std::string BindError(const std::string& address, const std::string& fallback) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return "no port in the address";
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const int gai = getaddrinfo(host.empty() || host == "0.0.0.0" || host == "::" ? nullptr
                                                                                : host.c_str(),
                              port.c_str(), &hints, &res);
  if (gai != 0) return std::string("cannot resolve it: ") + gai_strerror(gai);
  std::string why = fallback;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
      why = errno == EADDRINUSE ? "port " + port + " is in use by another process"
                                : std::string(strerror(errno));
      close(fd);
      break;
    }
    close(fd);
  }
  freeaddrinfo(res);
  return why;
}

}  // namespace scalefs
