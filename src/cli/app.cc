#include "cli/app.h"

#include <filesystem>
#include <iostream>

#include "base/log.h"
#include "cli/commands.h"

namespace lifeboat::cli {

const std::vector<CommandInfo>& Commands() {
  static const std::vector<CommandInfo> kCommands = {
      {"recover",
       "Read the control plane from a surviving API server (or etcd) and render a temporary "
       "bootstrap control plane into --recovery-dir.",
       AddRecoverCommand},
      {"checkpoint", "Keep checkpoints of this node's control-plane pods and run them when their parents cannot run (DaemonSet; also the `checkpoint` personality).", AddCheckpointCommand},
      {"start",
       "Run the bootstrap control plane of an asset dir until the self-hosted control plane is "
       "back, then remove it.",
       AddStartCommand},
  };
  return kCommands;
}

namespace {

int Run(CLI::App& app, int argc, char** argv, const std::function<int()>& dispatch) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  } catch (const CLI::CallForVersion& e) {
    app.exit(e);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return dispatch();
}

}  // namespace

int Main(int argc, char** argv) {
  std::string personality = std::filesystem::path(argc > 0 ? argv[0] : "lifeboat").filename();
  int verbosity = 0;

  if (personality == "checkpoint") {
    // Upstream's image runs `/checkpoint --lock-file=... --kubeconfig=...`: no subcommand.
    for (const auto& c : Commands()) {
      if (c.name != "checkpoint") continue;
      CLI::App app(c.description, personality);
      app.add_flag("-v,--verbose", verbosity, "More log detail (repeat for more)");
      Runner run = c.add(app);
      return Run(app, argc, argv, [&] {
        base::InitLogging(verbosity);
        return run();
      });
    }
    std::cerr << "checkpoint: the pod checkpointer is not part of this build\n";
    return kExitFailure;
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
  return Run(app, argc, argv, [&] {
    base::InitLogging(verbosity);
    for (auto& [sub, run] : runners) {
      if (sub->parsed()) return run();
    }
    return kExitUsage;
  });
}

}  // namespace lifeboat::cli
