#include "fsd/ca_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/cluster_config.h"
#include "common/rpc_authorizer.h"
#include "common/rpc_security.h"

namespace scalefs {

namespace {

const char kCaUsage[] =
    "usage: scalefs ca init [--dir DIR] [--days N]\n"
    "       scalefs ca issue ROLE NAME [--dir DIR] [--days N] [--force]\n"
    "                        [--subdir PATH] [--read_only] [--root_squash]\n"
    "       scalefs ca show CERT\n"
    "  init   make the cluster's CA: DIR/ca.key (keep it secret) and DIR/ca.crt\n"
    "  issue  a certificate for ROLE (meta, member, client, admin) named NAME:\n"
    "         DIR/NAME.key and DIR/NAME.crt; a client's may be limited to a subdirectory\n"
    "         (which it sees as its root), to reading, and have its host's root act as\n"
    "         nobody (--root_squash, as NFS's)\n"
    "  show   the identity and grant a certificate carries\n"
    "DIR defaults to the local cluster's tls folder ($SCALEFS_STATE/tls).\n";

int Usage(const std::string& problem) {
  std::cerr << "scalefs ca: " << problem << "\n" << kCaUsage;
  return 2;
}

// Runs openssl with `args`; its output goes to the terminal only on failure
// (or with `show`).
bool Openssl(const std::vector<std::string>& args, const std::string& what, bool show = false) {
  char log[] = "/tmp/scalefs-ca-XXXXXX";
  const int fd = mkstemp(log);
  if (fd < 0) {
    std::cerr << "scalefs ca: cannot make a temporary file\n";
    return false;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>("openssl"));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp("openssl", argv.data());
    std::fprintf(stderr, "cannot run openssl: %s (install the openssl package)\n", strerror(errno));
    _exit(127);
  }
  int status = 0;
  if (pid > 0) waitpid(pid, &status, 0);
  close(fd);
  const bool ok = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok || show) {
    std::ifstream in(log);
    if (ok) std::cout << in.rdbuf();
    else std::cerr << "scalefs ca: " << what << " failed:\n" << in.rdbuf();
  }
  unlink(log);
  return ok;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

// Names become a SPIFFE path segment and a file name.
bool GoodName(const std::string& n) {
  if (n.empty() || n.size() > 64 || n[0] == '.' || n == "ca") return false;
  for (char c : n) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

struct Options {
  std::string dir;
  int days = 0;
  bool force = false;
  ClientGrant grant;
  std::vector<std::string> positional;
};

// Parses the options after the subcommand; "" or the problem.
std::string ParseOptions(const std::vector<std::string>& args, size_t from, Options* o) {
  for (size_t i = from; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag, std::string* out) {
      if (a.rfind(flag + "=", 0) == 0) {
        *out = a.substr(flag.size() + 1);
        return true;
      }
      if (a == flag && i + 1 < args.size()) {
        *out = args[++i];
        return true;
      }
      return false;
    };
    std::string v;
    if (value("--dir", &o->dir)) continue;
    if (value("--subdir", &o->grant.subdir)) continue;
    if (value("--days", &v)) {
      char* end = nullptr;
      const long d = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || d <= 0 || d > 36500) return "--days wants 1..36500";
      o->days = static_cast<int>(d);
      continue;
    }
    if (a == "--read_only" || a == "--read-only") { o->grant.read_only = true; continue; }
    if (a == "--root_squash" || a == "--root-squash") { o->grant.root_squash = true; continue; }
    if (a == "--force") { o->force = true; continue; }
    if (a.size() > 1 && a[0] == '-') return "unknown option " + a;
    o->positional.push_back(a);
  }
  if (o->dir.empty()) o->dir = LocalStateDir() + "/tls";
  return "";
}

bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

int Init(const Options& o) {
  if (!o.positional.empty()) return Usage("init takes no arguments");
  const std::string key = o.dir + "/ca.key", crt = o.dir + "/ca.crt";
  if (Exists(key)) {
    std::cerr << "scalefs ca init: " << key << " exists; a new CA would orphan every "
              << "certificate it issued (remove the folder to start over)\n";
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) {
    std::cerr << "scalefs ca init: cannot create " << o.dir << ": " << ec.message() << "\n";
    return 1;
  }
  chmod(o.dir.c_str(), 0700);
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const std::string cnf = o.dir + "/.ca-init.cnf";
  WriteFile(cnf,
            "[req]\nprompt = no\ndistinguished_name = dn\nx509_extensions = v3_ca\n"
            "[dn]\nO = scalefs\nCN = scalefs cluster CA (" + std::string(host) + ", " +
                std::to_string(time(nullptr)) + ")\n"
            "[v3_ca]\nbasicConstraints = critical,CA:TRUE\n"
            "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n");
  const bool ok = Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                           "-days", std::to_string(o.days ? o.days : 3650), "-config", cnf},
                          "making the CA");
  unlink(cnf.c_str());
  if (!ok) return 1;
  chmod(key.c_str(), 0600);
  chmod(crt.c_str(), 0644);
  std::cout << "CA made: " << crt << " (its key " << key << " signs every certificate; keep it "
            << "off the cluster's hosts once they have theirs)\n";
  return 0;
}

int Issue(const Options& o) {
  if (o.positional.size() != 2) return Usage("issue wants ROLE NAME");
  auto role = ParseRole(o.positional[0]);
  if (!role.ok()) return Usage(role.status().message());
  const std::string& name = o.positional[1];
  if (!GoodName(name)) {
    return Usage("name '" + name + "' must be 1-64 letters, digits, '-', '_' or '.' (not 'ca')");
  }
  const std::string grant = FormatGrant(o.grant);
  if (*role != Role::kClient && !grant.empty()) {
    return Usage("--subdir, --read_only and --root_squash are for client certificates");
  }
  if (auto parsed = ParseGrant(grant); !parsed.ok()) return Usage(parsed.status().message());
  for (char c : o.grant.subdir) {
    if (c == '$' || c == '#' || c == '\\' || c == '"' || c == ';' || c < 0x20) {
      return Usage("--subdir may not contain $ # \\ \" ; or control characters");
    }
  }
  const std::string ca_key = o.dir + "/ca.key", ca_crt = o.dir + "/ca.crt";
  if (!Exists(ca_key) || !Exists(ca_crt)) {
    std::cerr << "scalefs ca issue: no CA in " << o.dir << " (run `scalefs ca init --dir "
              << o.dir << "` first)\n";
    return 1;
  }
  const std::string key = o.dir + "/" + name + ".key", crt = o.dir + "/" + name + ".crt";
  if (Exists(crt) && !o.force) {
    std::cerr << "scalefs ca issue: " << crt << " exists (--force replaces it)\n";
    return 1;
  }
  const std::string cnf = o.dir + "/." + name + ".cnf", ext = o.dir + "/." + name + ".ext",
                    csr = o.dir + "/." + name + ".csr";
  WriteFile(cnf, "[req]\nprompt = no\ndistinguished_name = dn\n[dn]\nO = scalefs\nOU = " +
                     std::string(RoleName(*role)) + "\nCN = " + name + "\n" +
                     (grant.empty() ? "" : "description = " + grant + "\n"));
  WriteFile(ext, "subjectAltName = URI:" + SpiffeIdFor(*role, name) + ", DNS:" +
                     ServerNameFor(*role) + "\n"
                     "extendedKeyUsage = serverAuth, clientAuth\n"
                     "basicConstraints = critical,CA:FALSE\n"
                     "keyUsage = critical,digitalSignature,keyAgreement\n");
  bool ok = Openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-keyout", key, "-out", csr, "-config", cnf},
                    "making the key and request");
  ok = ok && Openssl({"x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                      "-CAcreateserial", "-CAserial", o.dir + "/ca.srl", "-out", crt, "-days",
                      std::to_string(o.days ? o.days : 825), "-extfile", ext},
                     "signing the certificate");
  unlink(cnf.c_str());
  unlink(ext.c_str());
  unlink(csr.c_str());
  if (!ok) return 1;
  chmod(key.c_str(), 0600);
  chmod(crt.c_str(), 0644);
  std::cout << "issued " << crt << ": " << SpiffeIdFor(*role, name)
            << (grant.empty() ? "" : " (" + grant + ")") << "\n";
  return 0;
}

int Show(const Options& o) {
  if (o.positional.size() != 1) return Usage("show wants CERT");
  return Openssl({"x509", "-in", o.positional[0], "-noout", "-subject", "-issuer", "-enddate",
                  "-ext", "subjectAltName"},
                 "reading " + o.positional[0], true)
             ? 0
             : 1;
}

}  // namespace

int RunCa(const std::vector<std::string>& args) {
  if (args.empty()) return Usage("which: init, issue or show?");
  if (args[0] == "help") {
    std::cout << kCaUsage;
    return 0;
  }
  Options o;
  const std::string problem = ParseOptions(args, 1, &o);
  if (!problem.empty()) return Usage(problem);
  umask(077);
  if (args[0] == "init") return Init(o);
  if (args[0] == "issue") return Issue(o);
  if (args[0] == "show") return Show(o);
  return Usage("unknown subcommand '" + args[0] + "'");
}

}  // namespace scalefs
