#include "testing/testbed.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

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

}  // namespace lifeboat::testing
