// The settings of a command-line run, as rows for plot::Report.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace bp::cli {

// The command line (first row, "command"), then every option of `cmd` with the value given, or
// its default followed by " (default)"; options with neither are left out.
std::vector<std::pair<std::string, std::string>> option_settings(const CLI::App& cmd, int argc,
                                                                 const char* const* argv);

}  // namespace bp::cli
