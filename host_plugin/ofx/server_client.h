// A small synchronous client of e2fgvi-server protocol v1 (docs/protocol.md) for the OpenFX plug-in.
//
// Why synchronous and one socket per call: an OpenFX render call is itself a blocking call on a host thread, so the
// plug-in opens a DEALER socket, runs one exchange (hello, footprint or a whole job) to its end and closes it. Every
// wait is bounded by the protocol's heartbeat numbers (generated from e2fgvi_server.protocol): while waiting the
// client pings every interval, and a server silent for interval x liveness is taken as gone, never waited on forever.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace e2fgvi_ofx {

// One value of a request map: nil, bool, integer, number, text or a list of texts (the `reference` entries).
using Value = std::variant<std::nullptr_t, bool, int64_t, double, std::string, std::vector<std::string>>;
using Fields = std::vector<std::pair<std::string, Value>>;

// Pixels that travel: (h, w, c) of dtype "uint8", "float16" or "float32", rows top first, channels interleaved.
struct Pixels {
  int frame = 0;
  std::string dtype;
  int height = 0, width = 0, channels = 0;
  std::vector<std::string> names;
  std::vector<uint8_t> bytes;
};

// An error the artist reads: the server's (or this client's) code and one line.
class ServerError : public std::runtime_error {
 public:
  ServerError(std::string code, const std::string &message) : std::runtime_error(message), code(std::move(code)) {}
  std::string code;
};

struct JobCallbacks {
  std::function<bool()> aborted;                       // polled; true cancels the job on the server
  std::function<void(int done, int total)> progress;  // from the server's progress messages
};

class ServerClient {
 public:
  explicit ServerClient(std::string address);
  ~ServerClient();
  ServerClient(const ServerClient &) = delete;
  ServerClient &operator=(const ServerClient &) = delete;

  // hello; raises ServerError("server_unavailable") when nothing answers within `timeout_s` (each silence of
  // interval x liveness is retried on a new socket `retries` times: 0 for a quick "is one there?" probe).
  void hello(double timeout_s, int retries);
  // footprint: for each frame of request["frames"], the shot frames producing it reads.
  std::map<int, std::vector<int>> footprint(const Fields &request);
  // submit by value and wait for the job's end; frames by number. Raises ServerError (code "cancelled" on abort).
  std::map<int, Pixels> run_job(const Fields &request, const std::vector<const Pixels *> &plates,
                                const std::vector<const Pixels *> &mattes, const JobCallbacks &callbacks);

  static double silence_limit_s();

 private:
  struct Impl;
  Impl *impl_;
};

// The access key the server's user holds ($E2FGVI_SERVER_ACCESS_KEY_FILE, else the per-user config file).
std::string read_access_key();
bool is_loopback_endpoint(const std::string &address);

}  // namespace e2fgvi_ofx
