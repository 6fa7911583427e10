// The subcommands, each in its own file.
#pragma once

#include "cli/app.h"

namespace lifeboat::cli {

Runner AddRecoverCommand(CLI::App& app);
Runner AddCheckpointCommand(CLI::App& app);
Runner AddStartCommand(CLI::App& app);
Runner AddDoctorCommand(CLI::App& app);

}  // namespace lifeboat::cli
