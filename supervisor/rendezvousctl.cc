// rendezvousctl — the operator's command-line client for a running rendezvous.
//
//   rendezvousctl [-run-dir DIR] status         ask the registry worker for its status (JSON)
//   rendezvousctl check-config [flags…]         validate flags/config exactly as the server does
//   rendezvousctl --help
//
// Commands live in one table below; later ones (promote, …) are one entry each.
//
// Exit codes: 0 success; 1 the server could not be reached or answered with an error;
// 2 usage error; 78 check-config found a configuration error.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "config.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "util.h"

namespace {

constexpr int kExitUsage = 2;
constexpr int kCallTimeoutMs = 2000;

struct Globals {
  std::string run_dir = rdv::Config{}.run_dir;
};

struct Command {
  const char* name;
  const char* synopsis;
  const char* help;
  int (*run)(const Globals& globals, const std::vector<std::string>& args);
};

int print_reply(const json_t* reply) {
  std::unique_ptr<char, rdv::FreeDeleter> text(json_dumps(reply, JSON_INDENT(2) | JSON_PRESERVE_ORDER));
  std::printf("%s\n", text ? text.get() : "null");
  if (rdv::json_str(reply, "type") == "error") return rdv::kExitFailure;
  return rdv::kExitOk;
}

// Sends one request to the registry worker's command socket and prints the reply.
int call_registry(const Globals& g, const json_t* request) {
  std::string error;
  rdv::JsonPtr reply = rdv::ipc::registry_call(g.run_dir, request, kCallTimeoutMs, &error);
  if (!reply) {
    std::fprintf(stderr, "rendezvousctl: %s\n", error.c_str());
    return rdv::kExitFailure;
  }
  return print_reply(reply.get());
}

int cmd_status(const Globals& g, const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr, "rendezvousctl: status takes no arguments\n");
    return kExitUsage;
  }
  rdv::JsonPtr req(json_pack("{s:s}", "type", "status"));
  return call_registry(g, req.get());
}

int cmd_check_config(const Globals&, const std::vector<std::string>& args) {
  rdv::Config cfg;
  std::string error;
  if (!cfg.parse(args, &error)) {
    std::fprintf(stderr, "rendezvousctl: %s\n", error.c_str());
    return rdv::kExitConfig;
  }
  std::printf("config ok\n");
  return rdv::kExitOk;
}

int cmd_help(const Globals&, const std::vector<std::string>&);

const Command kCommands[] = {
    {"status", "status", "print the registry's status as JSON", cmd_status},
    {"check-config", "check-config [flags...]", "validate server flags and config file (exit 78 on error)",
     cmd_check_config},
    {"help", "help", "this text", cmd_help},
};

int cmd_help(const Globals&, const std::vector<std::string>&) {
  std::printf(
      "usage: rendezvousctl [-run-dir DIR] <command> [args…]\n\n"
      "Talks to a running rendezvous through its Unix sockets in the run dir.\n\n"
      "options:\n"
      "  -run-dir DIR              run dir of the server (default %s)\n\n"
      "commands:\n",
      Globals{}.run_dir.c_str());
  for (auto& c : kCommands) std::printf("  %-25s %s\n", c.synopsis, c.help);
  return rdv::kExitOk;
}

// "-flag", "--flag" → "flag"; anything else → "".
std::string flag_name(const std::string& arg) {
  if (arg.size() < 2 || arg[0] != '-') return "";
  return arg.substr(arg[1] == '-' ? 2 : 1);
}

}  // namespace

int main(int argc, char** argv) {
  rdv::log_init("rendezvousctl");
  rdv::log_set_level(rdv::LogLevel::Warn);
  Globals globals;
  std::vector<std::string> args(argv + 1, argv + argc);
  size_t i = 0;
  for (; i < args.size(); i++) {
    std::string name = flag_name(args[i]);
    if (name.empty()) break;  // the command
    if (name == "help" || name == "h") return cmd_help(globals, {});
    if (name == "run-dir" && i + 1 < args.size()) {
      globals.run_dir = args[++i];
    } else if (name.rfind("run-dir=", 0) == 0) {
      globals.run_dir = name.substr(std::strlen("run-dir="));
    } else {
      std::fprintf(stderr, "rendezvousctl: unknown option %s (see --help)\n", args[i].c_str());
      return kExitUsage;
    }
  }
  if (i == args.size()) {
    cmd_help(globals, {});
    return kExitUsage;
  }
  const std::string& command = args[i];
  std::vector<std::string> rest(args.begin() + long(i) + 1, args.end());
  for (auto& c : kCommands)
    if (command == c.name) return c.run(globals, rest);
  std::fprintf(stderr, "rendezvousctl: unknown command \"%s\" (see --help)\n", command.c_str());
  return kExitUsage;
}
