#include "testing/testbed.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace lifeboat::testing {
namespace fs = std::filesystem;

std::string TestbedScript() { return std::string(LIFEBOAT_SOURCE_DIR) + "/testbed/testbed.sh"; }

absl::StatusOr<std::unique_ptr<Testbed>> Testbed::Start(const TestbedOptions& options) {
  std::unique_ptr<Testbed> tb(new Testbed());
  char tmpl[] = "/tmp/lifeboat-testbed-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  tb->dir_ = tmpl;
  std::vector<std::string> argv = {"bash", TestbedScript(), "up", tb->dir_};
  if (options.controllers) argv.push_back("--controllers");
  if (options.nodes > 0) {
    argv.push_back("--nodes");
    argv.push_back(std::to_string(options.nodes));
  }
  if (!options.encryption_config.empty()) {
    argv.push_back("--encryption-config");
    argv.push_back(options.encryption_config);
  }
  if (!options.storage_media_type.empty()) {
    argv.push_back("--storage-media-type");
    argv.push_back(options.storage_media_type);
  }
  for (const auto& a : options.apiserver_args) {
    argv.push_back("--apiserver-arg");
    argv.push_back(a);
  }
  if (options.real_nodes) argv.push_back("--real-nodes");
  if (!options.apiserver) argv.push_back("--no-apiserver");
  for (const auto& image : options.images) {
    argv.push_back("--image");
    argv.push_back(image);
  }
  ProcessResult r = RunProcess(argv);
  if (r.exit_code != 0) {
    // The destructor still runs `down` for whatever did start.
    return absl::FailedPreconditionError(absl::StrCat(
        "test bed did not come up (exit ", r.exit_code, "); build it with `make testbed`\n", r.out,
        r.err));
  }
  std::ifstream env(fs::path(tb->dir_) / "env");
  std::string line;
  while (std::getline(env, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos || line[0] == '#') continue;
    tb->env_[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return tb;
}

Testbed::~Testbed() {
  if (dir_.empty()) return;
  RunProcess({"bash", TestbedScript(), "down", dir_});
  if (!std::getenv("LIFEBOAT_KEEP_TESTBED")) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string Testbed::Env(const std::string& key) const {
  auto it = env_.find(key);
  return it == env_.end() ? "" : it->second;
}

absl::Status Testbed::Script(const std::string& verb, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"bash", TestbedScript(), verb, dir_};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = RunProcess(argv);
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("testbed.sh ", verb, " ", absl::StrJoin(args, " "),
                                            " failed: ", r.out, r.err));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Testbed::Kubectl(const std::vector<std::string>& args) {
  // The test bed's own kubectl v1.20.2, not whatever is on PATH.
  std::vector<std::string> argv = {Env("KUBECTL"), "--kubeconfig", Env("KUBECONFIG")};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = RunProcess(argv);
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("kubectl ", absl::StrJoin(args, " "), ": ", r.err));
  }
  return r.out;
}

std::vector<int> Testbed::NodeProcesses(int i, const std::string& comm) const {
  std::vector<int> out;
  std::string root = Env(absl::StrCat("NODE_", i, "_CGROUP_ROOT"));
  if (root.empty()) return out;
  // The pids hierarchy holds every process of the node's pods.
  fs::path top = fs::path("/sys/fs/cgroup/pids") / root.substr(1);
  std::error_code ec;
  for (fs::recursive_directory_iterator it(top, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() != "cgroup.procs") continue;
    std::ifstream procs(it->path());
    std::string line;
    while (std::getline(procs, line)) {
      int pid = 0;
      if (!absl::SimpleAtoi(line, &pid)) continue;
      std::ifstream f(absl::StrCat("/proc/", pid, "/comm"));
      std::string name;
      if (std::getline(f, name) && name == comm) out.push_back(pid);
    }
  }
  return out;
}

absl::StatusOr<std::string> TestbedImage(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"bash", std::string(LIFEBOAT_SOURCE_DIR) + "/testbed/images.sh"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = RunProcess(argv);
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("testbed/images.sh ", absl::StrJoin(args, " "), ": ", r.err));
  }
  return std::string(absl::StripAsciiWhitespace(r.out));
}

}  // namespace lifeboat::testing
