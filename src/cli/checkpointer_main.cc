// lifeboat-checkpointer: the pod checkpointer as a binary of its own. Upstream's image runs
// `/checkpoint --lock-file=... --kubeconfig=...` (no subcommand); so does this, under any name.
#include <malloc.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "base/log.h"
#include "cli/commands.h"
#include "cli/go_flags.h"

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

  // glog's flags, which upstream's binary has too (its main sets -logtostderr before parsing):
  // accepted with their meaning where this binary has one. Logs always go to stderr.
  struct {
    int v = 0;
    bool logtostderr = true;
    bool alsologtostderr = false;
    std::string stderrthreshold, vmodule, log_dir, log_backtrace_at;
  } glog;
  const std::string group = "Upstream's glog flags";
  app.add_option("--v", glog.v, "verbosity as a number (-v=2 is -v -v)")->group(group);
  app.add_flag("--logtostderr", glog.logtostderr, "logs go to stderr (always; false: a warning)")
      ->group(group);
  app.add_flag("--alsologtostderr", glog.alsologtostderr, "no effect: logs go to stderr")->group(group);
  app.add_option("--stderrthreshold", glog.stderrthreshold, "no effect: every line goes to stderr")
      ->group(group);
  app.add_option("--vmodule", glog.vmodule, "not supported (a warning): use -v")->group(group);
  app.add_option("--log_dir", glog.log_dir, "not supported (a warning): logs go to stderr")
      ->group(group);
  app.add_option("--log_backtrace_at", glog.log_backtrace_at, "not supported (a warning)")
      ->group(group);

  // Go's flag syntax (-lock-file=x, -v 2) as upstream's binary parses it.
  std::set<std::string> long_names;
  for (const CLI::Option* o : app.get_options()) {
    for (const std::string& n : o->get_lnames()) long_names.insert(n);
  }
  std::vector<std::string> args = GoFlagsToCli11(
      std::vector<std::string>(argv + std::min(argc, 1), argv + argc), long_names);
  std::vector<char*> cargs = {argc > 0 ? argv[0] : const_cast<char*>("checkpoint")};
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);

  return RunParsed(app, static_cast<int>(cargs.size()) - 1, cargs.data(), [&] {
    base::InitLogging(std::max(verbosity, glog.v));
    if (!glog.logtostderr || !glog.log_dir.empty()) {
      LOG_WARN("--logtostderr=false and --log_dir are not supported: the checkpointer logs to stderr "
               "only (the kubelet keeps it as the container's log)");
    }
    if (!glog.vmodule.empty() || !glog.log_backtrace_at.empty()) {
      LOG_WARN("--vmodule and --log_backtrace_at are not supported and have no effect (-v=N sets the "
               "verbosity)");
    }
    return run();
  });
}

}  // namespace lifeboat::cli

int main(int argc, char** argv) { return lifeboat::cli::CheckpointerMain(argc, argv); }
