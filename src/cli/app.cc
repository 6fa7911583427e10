#include "cli/app.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string_view>

#include "base/log.h"
#include "cli/commands.h"

namespace lifeboat::cli {

namespace {

// Only listed in `lifeboat --help`: Main execs the checkpointer before parsing.
Runner AddCheckpointForwarder(CLI::App& app) {
  app.allow_extras();
  return [] { return kExitUsage; };
}

// Replaces this process with lifeboat-checkpointer (next to this binary), passing argv[first..]
// and any -v flags given before the subcommand. Returns only on failure.
int ExecCheckpointer(int argc, char** argv, int first, const char* name) {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::filesystem::path binary = self.parent_path() / "lifeboat-checkpointer";
  std::vector<char*> args = {const_cast<char*>(name)};
  for (int i = 1; i < first - 1; ++i) args.push_back(argv[i]);  // global flags (-v)
  for (int i = first; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  ::execv(binary.c_str(), args.data());
  std::cerr << "lifeboat: cannot run the checkpointer " << binary.string() << ": " << std::strerror(errno)
            << "\n(it is a separate small binary, installed next to lifeboat; `make build` builds it)" << std::endl;
  return kExitFailure;
}

}  // namespace

const std::vector<CommandInfo>& Commands() {
  static const std::vector<CommandInfo> kCommands = {
      {"recover",
       "Read the control plane from a surviving API server (or etcd) and render a temporary "
       "bootstrap control plane into --recovery-dir.",
       AddRecoverCommand},
      {"checkpoint",
       "Keep checkpoints of this node's control-plane pods and run them when their parents "
       "cannot run (a DaemonSet; runs the lifeboat-checkpointer binary installed next to "
       "lifeboat, also known as `checkpoint`). See `lifeboat checkpoint --help`.",
       AddCheckpointForwarder},
      {"start",
       "Run the bootstrap control plane of an asset dir until the self-hosted control plane is "
       "back, then remove it.",
       AddStartCommand},
      {"doctor",
       "Tell, read only, whether a recovery would work now: checkpointer coverage, this node's "
       "checkpoints, a recover dry run per source, backups and certificates. Exit 0 ready, 1 not.",
       AddDoctorCommand},
  };
  return kCommands;
}

int Main(int argc, char** argv) {
  std::string personality = std::filesystem::path(argc > 0 ? argv[0] : "lifeboat").filename();
  int verbosity = 0;

  if (personality == "checkpoint") return ExecCheckpointer(argc, argv, 1, "checkpoint");
  // `lifeboat [-v...] checkpoint ...`: the checkpointer is a binary of its own.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "checkpoint") return ExecCheckpointer(argc, argv, i + 1, "lifeboat-checkpointer");
    if (arg.empty() || arg[0] != '-') break;
  }

  CLI::App app(personality == "bootkube"
                   ? "bootkube-compatible CLI of Lifeboat: recover and restart a self-hosted "
                     "Kubernetes control plane."
                   : "Lifeboat keeps self-hosted Kubernetes control planes alive and brings them "
                     "back when they die.",
               personality);
  app.require_subcommand(1);
  app.add_flag("-v,--verbose", verbosity, "More log detail on stderr (repeat for more)");
  app.set_version_flag("--version", "lifeboat 0.1.0");
  std::vector<std::pair<CLI::App*, Runner>> runners;
  for (const auto& c : Commands()) {
    CLI::App* sub = app.add_subcommand(c.name, c.description);
    sub->fallthrough();
    runners.emplace_back(sub, c.add(*sub));
  }
  return RunParsed(app, argc, argv, [&] {
    base::InitLogging(verbosity);
    for (auto& [sub, run] : runners) {
      if (sub->parsed()) return run();
    }
    return kExitUsage;
  });
}

}  // namespace lifeboat::cli
