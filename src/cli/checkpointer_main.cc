// lifeboat-checkpointer: the pod checkpointer as a binary of its own. Upstream's image runs
// `/checkpoint --lock-file=... --kubeconfig=...` (no subcommand); so does this, under any name.
#include <malloc.h>

#include <filesystem>
#include <string>

#include "base/log.h"
#include "cli/commands.h"

namespace lifeboat::cli {

int CheckpointerMain(int argc, char** argv) {
  // One malloc arena for the tick loop and the small /metrics and signal threads: a node daemon
  // with an 8 MiB budget has no use for an arena per thread.
  mallopt(M_ARENA_MAX, 1);
  std::string invoked = std::filesystem::path(argc > 0 ? argv[0] : "").filename();
  // Through the `checkpoint` link it is upstream's checkpointer; otherwise `lifeboat checkpoint`
  // exec'd us, and help should say so.
  std::string name = invoked == "checkpoint" ? "checkpoint" : "lifeboat checkpoint";
  CLI::App app(
      "The pod checkpointer: keeps static-pod copies (checkpoints) of this node's control-plane pods "
      "that carry the annotation checkpointer.alpha.coreos.com/checkpoint=\"true\", and runs them "
      "while their parents cannot run (a node rebooted with no API server up).",
      name);
  int verbosity = 0;
  app.add_flag("-v,--verbose", verbosity, "More log detail on stderr (repeat for more)");
  Runner run = AddCheckpointCommand(app);
  return RunParsed(app, argc, argv, [&] {
    base::InitLogging(verbosity);
    return run();
  });
}

}  // namespace lifeboat::cli

int main(int argc, char** argv) { return lifeboat::cli::CheckpointerMain(argc, argv); }
