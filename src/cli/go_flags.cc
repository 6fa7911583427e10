#include "cli/go_flags.h"

#include <algorithm>
#include <cctype>

namespace lifeboat::cli {
namespace {

bool AllDigits(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

std::vector<std::string> GoFlagsToCli11(const std::vector<std::string>& args,
                                        const std::set<std::string>& long_names) {
  std::vector<std::string> out;
  out.reserve(args.size());
  bool flags_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_ended || arg == "--") {
      flags_ended = true;
      out.push_back(arg);
      continue;
    }
    // `-v N` and `--v N`: glog's verbosity takes a value (a bare -v counts, as `lifeboat -v`).
    if ((arg == "-v" || arg == "--v") && i + 1 < args.size() && AllDigits(args[i + 1])) {
      out.push_back("--v=" + args[++i]);
      continue;
    }
    if (arg.size() > 2 && arg[0] == '-' && arg[1] != '-') {
      std::string name = arg.substr(1, arg.find('=') - 1);
      bool is_long = name.size() > 1 || (name == "v" && arg.find('=') != std::string::npos);
      if (is_long && long_names.count(name) != 0) {
        out.push_back("-" + arg);
        continue;
      }
    }
    out.push_back(arg);
  }
  return out;
}

}  // namespace lifeboat::cli
