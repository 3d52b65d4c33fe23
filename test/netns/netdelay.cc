// scalefs-netdelay: holds every packet of one netfilter queue for a time,
// then lets it through: the delay (and, with jitter, the reordering) of
// `tc netem`, which this kernel lacks, out of iptables' NFQUEUE target and
// libnetfilter_queue. deploy/netns delay A B MS [JITTER] starts one in A's
// namespace and sends the packets from B into its queue.
//
//   scalefs-netdelay --queue N --delay_ms MS [--jitter_ms J] [--seed S] [--ready FILE]
//
// Each packet is held MS ms plus a uniform 0..J ms of its own, and goes when
// its time is up: with J > 0 a later packet may overtake an earlier one, as
// netem's delay with jitter reorders. With J = 0 they keep their order.
// It binds the queue, then writes FILE (so the caller adds the rule only
// once someone reads the queue), and runs until SIGTERM or SIGINT. What it
// holds when it ends is dropped by the kernel, as a link that goes down.
// glibc's netinet/in.h first: it tells linux/in.h (under linux/netfilter.h)
// not to define the same structs again.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <queue>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Held {
  uint32_t id;
  uint64_t arrival;  // its place in the order the packets came
  Clock::time_point due;
  bool operator>(const Held& o) const { return due > o.due || (due == o.due && arrival > o.arrival); }
};

struct State {
  std::chrono::milliseconds delay{0};
  long jitter_ms = 0;
  std::mt19937_64 rng;
  uint64_t arrivals = 0;
  // The soonest due first.
  std::priority_queue<Held, std::vector<Held>, std::greater<Held>> held;
};

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

int OnPacket(nfq_q_handle*, nfgenmsg*, nfq_data* nfa, void* data) {
  auto* state = static_cast<State*>(data);
  const nfqnl_msg_packet_hdr* ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == nullptr) return 0;
  auto due = Clock::now() + state->delay;
  if (state->jitter_ms > 0) {
    due += std::chrono::microseconds(state->rng() % (state->jitter_ms * 1000 + 1));
  }
  state->held.push({ntohl(ph->packet_id), state->arrivals++, due});
  return 0;
}

int Usage() {
  fprintf(stderr,
          "usage: scalefs-netdelay --queue N --delay_ms MS [--jitter_ms J] [--seed S] "
          "[--ready FILE]\n");
  return 2;
}

bool ParseNumber(const char* s, long max, long* out) {
  char* end = nullptr;
  errno = 0;
  const long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  long queue = -1, delay_ms = -1, jitter_ms = 0, seed = 1;
  std::string ready;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    if (a == "--queue") {
      if (!ParseNumber(argv[++i], 65535, &queue)) return Usage();
    } else if (a == "--delay_ms") {
      if (!ParseNumber(argv[++i], 60000, &delay_ms)) return Usage();
    } else if (a == "--jitter_ms") {
      if (!ParseNumber(argv[++i], 60000, &jitter_ms)) return Usage();
    } else if (a == "--seed") {
      if (!ParseNumber(argv[++i], 1L << 40, &seed)) return Usage();
    } else if (a == "--ready") {
      ready = argv[++i];
    } else {
      return Usage();
    }
  }
  if (queue < 0 || delay_ms < 0) return Usage();

  State state;
  state.delay = std::chrono::milliseconds(delay_ms);
  state.jitter_ms = jitter_ms;
  state.rng.seed(static_cast<uint64_t>(seed) ^ static_cast<uint64_t>(queue));
  nfq_handle* h = nfq_open();
  if (h == nullptr) {
    perror("scalefs-netdelay: nfq_open");
    return 1;
  }
  nfq_q_handle* qh = nfq_create_queue(h, static_cast<uint16_t>(queue), &OnPacket, &state);
  if (qh == nullptr) {
    fprintf(stderr, "scalefs-netdelay: cannot bind queue %ld (in use?)\n", queue);
    return 1;
  }
  // Only the packet's id is needed, not its bytes; room for a link's worth
  // of packets in flight over the delay.
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(qh, 1 << 16) < 0) {
    perror("scalefs-netdelay: configuring the queue");
    return 1;
  }
  nfnl_rcvbufsiz(nfq_nfnlh(h), 32 << 20);
  const int fd = nfq_fd(h);

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  if (!ready.empty()) {
    std::ofstream(ready) << getpid() << "\n";
  }

  // reordered: packets let through after one that came later.
  uint64_t passed = 0, overruns = 0, reordered = 0, next_in_order = 0;
  alignas(8) char buf[1 << 16];
  while (!g_stop) {
    int timeout = 1000;
    if (!state.held.empty()) {
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          state.held.top().due - Clock::now());
      timeout = static_cast<int>(std::max<int64_t>(0, wait.count()));
    }
    pollfd p{fd, POLLIN, 0};
    const int n = poll(&p, 1, timeout);
    if (n < 0 && errno != EINTR) {
      perror("scalefs-netdelay: poll");
      return 1;
    }
    if (n > 0) {
      for (;;) {
        const ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) {
          nfq_handle_packet(h, buf, static_cast<int>(r));
          continue;
        }
        // ENOBUFS: the kernel dropped packets it could not hand over (a
        // congested link drops too); the rest carry on.
        if (r < 0 && errno == ENOBUFS) {
          ++overruns;
          continue;
        }
        break;
      }
    }
    const auto now = Clock::now();
    while (!state.held.empty() && state.held.top().due <= now) {
      const Held p = state.held.top();
      state.held.pop();
      nfq_set_verdict(qh, p.id, NF_ACCEPT, 0, nullptr);
      ++passed;
      if (p.arrival < next_in_order) {
        ++reordered;
      } else {
        next_in_order = p.arrival + 1;
      }
    }
  }
  fprintf(stderr,
          "scalefs-netdelay: queue %ld: %llu packets delayed %ld ms (+0..%ld ms), %llu "
          "reordered, %llu overruns\n",
          queue, static_cast<unsigned long long>(passed), delay_ms, jitter_ms,
          static_cast<unsigned long long>(reordered), static_cast<unsigned long long>(overruns));
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}
