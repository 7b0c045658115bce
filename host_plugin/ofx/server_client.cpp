// Protocol v1 client of the OpenFX plug-in: msgpack header + raw little-endian buffers over a ZeroMQ DEALER socket.
#include "server_client.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>

#define MSGPACK_NO_BOOST 1
#include <msgpack.hpp>
#include <zmq.hpp>

#include "remove_object_params.h"

namespace e2fgvi_ofx {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kPollMs = 50;

zmq::context_t &context() {
  // One context for the life of the process: a context per call costs an I/O thread start, and destroying the last
  // one while a host unloads us could wait on sockets of other threads. Sockets are closed with linger 0.
  static zmq::context_t *shared = new zmq::context_t(1);
  return *shared;
}

std::string random_hex(size_t bytes) {
  static thread_local std::mt19937_64 engine{std::random_device{}() ^
                                             static_cast<uint64_t>(Clock::now().time_since_epoch().count())};
  static const char *digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    uint64_t value = engine();
    out.push_back(digits[value & 15]);
    out.push_back(digits[(value >> 4) & 15]);
  }
  return out;
}

using Packer = msgpack::packer<msgpack::sbuffer>;

void pack_value(Packer &pk, const Value &value) {
  std::visit(
      [&pk](const auto &v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          pk.pack_nil();
        } else {
          pk.pack(v);
        }
      },
      value);
}

void pack_fields(Packer &pk, const Fields &fields) {
  pk.pack_map(static_cast<uint32_t>(fields.size()));
  for (const auto &[name, value] : fields) {
    pk.pack(name);
    pack_value(pk, value);
  }
}

const msgpack::object *find(const msgpack::object &map, const char *key) {
  if (map.type != msgpack::type::MAP) return nullptr;
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto &kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR && kv.key.via.str.size == std::strlen(key) &&
        std::memcmp(kv.key.via.str.ptr, key, kv.key.via.str.size) == 0)
      return &kv.val;
  }
  return nullptr;
}

std::string text(const msgpack::object *o, const std::string &fallback = "") {
  if (o == nullptr || o->type != msgpack::type::STR) return fallback;
  return std::string(o->via.str.ptr, o->via.str.size);
}

bool integer(const msgpack::object *o, int64_t &out) {
  if (o == nullptr) return false;
  if (o->type == msgpack::type::POSITIVE_INTEGER) {
    out = static_cast<int64_t>(o->via.u64);
    return true;
  }
  if (o->type == msgpack::type::NEGATIVE_INTEGER) {
    out = o->via.i64;
    return true;
  }
  return false;
}

size_t dtype_size(const std::string &dtype) {
  if (dtype == "uint8") return 1;
  if (dtype == "float16") return 2;
  if (dtype == "float32") return 4;
  return 0;
}

}  // namespace

std::string read_access_key() {
  std::string path;
  if (const char *explicit_path = std::getenv(kAccessKeyFileEnv); explicit_path && *explicit_path) {
    path = explicit_path;
    if (path.rfind("~/", 0) == 0 && std::getenv("HOME")) path = std::string(std::getenv("HOME")) + path.substr(1);
  } else {
    const char *config = std::getenv("XDG_CONFIG_HOME");
    const char *home = std::getenv("HOME");
    std::string base = (config && *config) ? config : std::string(home ? home : "") + "/.config";
    path = base + "/e2fgvi/server-access.key";
  }
  std::ifstream file(path);
  std::string key;
  std::getline(file, key);
  while (!key.empty() && (key.back() == '\r' || key.back() == ' ' || key.back() == '\n')) key.pop_back();
  return key;
}

bool is_loopback_endpoint(const std::string &address) {
  if (address.rfind("ipc://", 0) == 0 || address.rfind("inproc://", 0) == 0) return true;
  if (address.rfind("tcp://", 0) != 0) return false;
  std::string host = address.substr(6);
  host = host.substr(0, host.rfind(':'));
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

struct ServerClient::Impl {
  std::string address;
  zmq::socket_t socket;
  int64_t next_req = 1;
  Clock::time_point last_heard, last_ping;

  int retries = kReconnectRetries;
  int failures = 0;

  explicit Impl(std::string where) : address(std::move(where)) { open(); }

  void open() {
    socket = zmq::socket_t(context(), zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::rcvhwm, 0);
    socket.set(zmq::sockopt::sndhwm, 0);
    try {
      socket.connect(address);
    } catch (const zmq::error_t &error) {
      throw ServerError("config_error", "server address " + address + " cannot be used: " + error.what());
    }
  }

  // Silence for interval x liveness: a new socket and the same message again (zguide's Lazy Pirate, as the Python
  // client does: a job's key and secret re-attach it), at most `retries` times before the server is taken as gone.
  void retry_or_give_up(const std::vector<std::pair<const void *, size_t>> &parts) {
    if (++failures > retries) unavailable();
    socket.close();
    open();
    send(parts);
    last_heard = last_ping = Clock::now();
  }

  // Send one multipart message without blocking (a queued message waits for the connection; silence is noticed).
  void send(const std::vector<std::pair<const void *, size_t>> &parts) {
    for (size_t i = 0; i < parts.size(); ++i) {
      auto flags = zmq::send_flags::dontwait;
      if (i + 1 < parts.size()) flags = flags | zmq::send_flags::sndmore;
      if (!socket.send(zmq::const_buffer(parts[i].first, parts[i].second), flags)) return;
    }
  }

  // A header map: the protocol version, the message type, then ``fields``.
  static void pack_header(msgpack::sbuffer &buffer, const std::string &type, const Fields &fields) {
    Packer pk(&buffer);
    pk.pack_map(static_cast<uint32_t>(2 + fields.size()));
    pk.pack(std::string("v"));
    pk.pack(kProtocolVersion);
    pk.pack(std::string("type"));
    pk.pack(type);
    for (const auto &[name, value] : fields) {
      pk.pack(name);
      pack_value(pk, value);
    }
  }

  void send_header(const std::string &type, const Fields &fields) {
    msgpack::sbuffer buffer;
    pack_header(buffer, type, fields);
    send({{buffer.data(), buffer.size()}});
  }

  // Poll once; returns the parts of one message (empty when nothing came). Pings while waiting.
  std::vector<zmq::message_t> poll_once() {
    auto now = Clock::now();
    // pings at half the interval: a server started with a shorter interval than the default still hears us in time
    if (std::chrono::duration<double>(now - last_ping).count() >= kHeartbeatIntervalS / 2) {
      send_header(kMsgPing, {{"req", int64_t(0)}});
      last_ping = now;
    }
    zmq::pollitem_t items[] = {{static_cast<void *>(socket), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 1, std::chrono::milliseconds(kPollMs));
    std::vector<zmq::message_t> parts;
    if (items[0].revents & ZMQ_POLLIN) {
      while (true) {
        zmq::message_t part;
        if (!socket.recv(part, zmq::recv_flags::dontwait)) break;
        bool more = part.more();
        parts.push_back(std::move(part));
        if (!more) break;
      }
      last_heard = Clock::now();
      failures = 0;
    }
    return parts;
  }

  bool silent_too_long() const {
    return std::chrono::duration<double>(Clock::now() - last_heard).count() > silence_limit_s();
  }

  [[noreturn]] void unavailable() const {
    throw ServerError("server_unavailable", "e2fgvi-server at " + address + " does not answer (is it running? "
                                            "e2fgvi status --server " + address + ")");
  }

  static ServerError remote_error(const msgpack::object &header) {
    return ServerError(text(find(header, "code"), "e2fgvi_error"), text(find(header, "message"), "the server refused"));
  }

  // A request/reply exchange (hello, footprint): returns the reply's header, owned by ``handle``.
  const msgpack::object &request(const std::string &type, Fields fields, msgpack::object_handle &handle,
                                 double timeout_s) {
    int64_t req = next_req++;
    fields.emplace_back("req", req);
    std::string key = read_access_key();
    if (!key.empty()) fields.emplace_back(kAccessKeyField, key);
    msgpack::sbuffer packed;
    pack_header(packed, type, fields);
    std::vector<std::pair<const void *, size_t>> message{{packed.data(), packed.size()}};
    last_heard = last_ping = Clock::now();
    send(message);
    auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (Clock::now() < deadline) {
      auto parts = poll_once();
      if (parts.empty()) {
        if (silent_too_long()) retry_or_give_up(message);
        continue;
      }
      handle = msgpack::unpack(static_cast<const char *>(parts[0].data()), parts[0].size());
      const msgpack::object &header = handle.get();
      int64_t got = -1;
      if (!integer(find(header, "req"), got) || got != req) continue;  // a pong or a late reply
      if (text(find(header, "type")) == kMsgError) throw remote_error(header);
      return header;
    }
    unavailable();
  }
};

double ServerClient::silence_limit_s() { return kHeartbeatIntervalS * kHeartbeatLiveness; }

ServerClient::ServerClient(std::string address) : impl_(new Impl(std::move(address))) {}
ServerClient::~ServerClient() { delete impl_; }

void ServerClient::hello(double timeout_s, int retries) {
  msgpack::object_handle handle;
  impl_->retries = retries;
  impl_->request(kMsgHello, {{"client", std::string("e2fgvi OpenFX plug-in")}}, handle, timeout_s);
  impl_->retries = kReconnectRetries;
}

std::map<int, std::vector<int>> ServerClient::footprint(const Fields &request) {
  msgpack::object_handle handle;
  msgpack::sbuffer packed;
  // the request travels as a nested map: the header is packed by hand around it
  int64_t req = impl_->next_req++;
  {
    Packer pk(&packed);
    std::string key = read_access_key();
    pk.pack_map(key.empty() ? 4 : 5);
    pk.pack(std::string("v"));
    pk.pack(kProtocolVersion);
    pk.pack(std::string("type"));
    pk.pack(std::string(kMsgFootprint));
    pk.pack(std::string("req"));
    pk.pack(req);
    pk.pack(std::string("request"));
    pack_fields(pk, request);
    if (!key.empty()) {
      pk.pack(std::string(kAccessKeyField));
      pk.pack(key);
    }
  }
  std::vector<std::pair<const void *, size_t>> message{{packed.data(), packed.size()}};
  impl_->last_heard = impl_->last_ping = Clock::now();
  impl_->send(message);
  while (true) {
    auto parts = impl_->poll_once();
    if (parts.empty()) {
      if (impl_->silent_too_long()) impl_->retry_or_give_up(message);
      continue;
    }
    handle = msgpack::unpack(static_cast<const char *>(parts[0].data()), parts[0].size());
    const msgpack::object &header = handle.get();
    int64_t got = -1;
    if (!integer(find(header, "req"), got) || got != req) continue;
    if (text(find(header, "type")) == kMsgError) throw Impl::remote_error(header);
    std::map<int, std::vector<int>> out;
    const msgpack::object *entries = find(header, "frames_read");
    if (entries == nullptr || entries->type != msgpack::type::ARRAY)
      throw ServerError("protocol_error", "the server's footprint reply has no frames_read list");
    for (uint32_t i = 0; i < entries->via.array.size; ++i) {
      const msgpack::object &entry = entries->via.array.ptr[i];
      int64_t frame = 0;
      const msgpack::object *reads = find(entry, "reads");
      if (!integer(find(entry, "frame"), frame) || reads == nullptr || reads->type != msgpack::type::ARRAY)
        throw ServerError("protocol_error", "the server's footprint reply has a malformed entry");
      auto &list = out[static_cast<int>(frame)];
      for (uint32_t j = 0; j < reads->via.array.size; ++j) {
        int64_t number = 0;
        if (integer(&reads->via.array.ptr[j], number)) list.push_back(static_cast<int>(number));
      }
    }
    return out;
  }
}

std::map<int, Pixels> ServerClient::run_job(const Fields &request, const std::vector<const Pixels *> &plates,
                                            const std::vector<const Pixels *> &mattes,
                                            const JobCallbacks &callbacks) {
  const std::string key = random_hex(16), secret = random_hex(16), access_key = read_access_key();
  msgpack::sbuffer packed;
  {
    Packer pk(&packed);
    pk.pack_map(8 + (mattes.empty() ? 0 : 1) + (access_key.empty() ? 0 : 1));
    pk.pack(std::string("v"));
    pk.pack(kProtocolVersion);
    pk.pack(std::string("type"));
    pk.pack(std::string(kMsgSubmit));
    pk.pack(std::string("key"));
    pk.pack(key);
    pk.pack(std::string("secret"));
    pk.pack(secret);
    pk.pack(std::string("priority"));
    pk.pack(0);
    pk.pack(std::string("request"));
    pack_fields(pk, request);
    int buffer = 0;
    for (const auto &[name, frames] : {std::make_pair("plate_frames", &plates), std::make_pair("matte_frames", &mattes)}) {
      if (frames->empty()) continue;  // an empty list is refused: no matte clip means the plate's own matte
      pk.pack(std::string(name));
      pk.pack_array(static_cast<uint32_t>(frames->size()));
      for (const Pixels *frame : *frames) {
        pk.pack_map(2);
        pk.pack(std::string("frame"));
        pk.pack(frame->frame);
        pk.pack(std::string("buffer"));
        pk.pack(buffer++);
      }
    }
    pk.pack(std::string("buffers"));
    pk.pack_array(static_cast<uint32_t>(plates.size() + mattes.size()));
    for (const auto *frames : {&plates, &mattes}) {
      for (const Pixels *frame : *frames) {
        pk.pack_map(3);
        pk.pack(std::string("dtype"));
        pk.pack(frame->dtype);
        pk.pack(std::string("shape"));
        pk.pack_array(3);
        pk.pack(frame->height);
        pk.pack(frame->width);
        pk.pack(frame->channels);
        pk.pack(std::string("channels"));
        pk.pack(frame->names);
      }
    }
    if (!access_key.empty()) {
      pk.pack(std::string(kAccessKeyField));
      pk.pack(access_key);
    }
  }
  std::vector<std::pair<const void *, size_t>> parts{{packed.data(), packed.size()}};
  for (const auto *frames : {&plates, &mattes})
    for (const Pixels *frame : *frames) parts.emplace_back(frame->bytes.data(), frame->bytes.size());
  impl_->last_heard = impl_->last_ping = Clock::now();
  impl_->send(parts);

  std::map<int, Pixels> results;
  std::string job_id;
  bool cancel_sent = false;
  while (true) {
    if (!cancel_sent && callbacks.aborted && callbacks.aborted()) {
      Fields cancel{{"key", key}, {"secret", secret}, {"req", impl_->next_req++}};
      if (!job_id.empty()) cancel.emplace_back("job_id", job_id);
      if (!access_key.empty()) cancel.emplace_back(kAccessKeyField, access_key);
      impl_->send_header(kMsgCancel, cancel);
      cancel_sent = true;
    }
    auto message = impl_->poll_once();
    if (message.empty()) {
      if (impl_->silent_too_long()) {
        if (cancel_sent) throw ServerError(kCodeCancelled, "cancelled");
        impl_->retry_or_give_up(parts);  // the same key and secret: the server re-attaches us to the job
      }
      continue;
    }
    msgpack::object_handle handle = msgpack::unpack(static_cast<const char *>(message[0].data()), message[0].size());
    const msgpack::object &header = handle.get();
    const std::string type = text(find(header, "type"));
    if (text(find(header, "key")) != key) {
      int64_t req = 0;
      if (type == kMsgError && integer(find(header, "req"), req) && req != 0 && !cancel_sent)
        throw Impl::remote_error(header);
      continue;  // pongs, replies to a cancel
    }
    if (type == kMsgAccepted) {
      job_id = text(find(header, "job_id"));
    } else if (type == kMsgProgress) {
      int64_t done = 0, total = 0;
      if (callbacks.progress && integer(find(header, "frames_done"), done) &&
          integer(find(header, "frames_total"), total))
        callbacks.progress(static_cast<int>(done), static_cast<int>(total));
    } else if (type == kMsgError) {
      throw Impl::remote_error(header);
    } else if (type == kMsgResult) {
      const msgpack::object *final_flag = find(header, "final");
      if (final_flag && final_flag->type == msgpack::type::BOOLEAN && final_flag->via.boolean) {
        // an abort the host asked for while the result was on its way still wins: nothing of this job is cached
        if (cancel_sent || (callbacks.aborted && callbacks.aborted())) throw ServerError(kCodeCancelled, "cancelled");
        return results;
      }
      int64_t frame = 0, index = -1;
      const msgpack::object *buffers = find(header, "buffers");
      if (!integer(find(header, "frame"), frame) || !integer(find(header, "buffer"), index) || buffers == nullptr ||
          buffers->type != msgpack::type::ARRAY || index < 0 || index >= int64_t(buffers->via.array.size) ||
          size_t(index + 1) >= message.size())
        throw ServerError("protocol_error", "a result from the server carries no pixels (was 'out' set?)");
      const msgpack::object &desc = buffers->via.array.ptr[index];
      Pixels pixels;
      pixels.frame = static_cast<int>(frame);
      pixels.dtype = text(find(desc, "dtype"));
      const msgpack::object *shape = find(desc, "shape");
      const msgpack::object *names = find(desc, "channels");
      int64_t dims[3] = {0, 0, 1};
      if (shape == nullptr || shape->type != msgpack::type::ARRAY || shape->via.array.size < 2 ||
          shape->via.array.size > 3)
        throw ServerError("protocol_error", "a result buffer has no valid shape");
      for (uint32_t i = 0; i < shape->via.array.size; ++i) integer(&shape->via.array.ptr[i], dims[i]);
      pixels.height = int(dims[0]);
      pixels.width = int(dims[1]);
      pixels.channels = int(dims[2]);
      if (names && names->type == msgpack::type::ARRAY)
        for (uint32_t i = 0; i < names->via.array.size; ++i) pixels.names.push_back(text(&names->via.array.ptr[i]));
      const zmq::message_t &part = message[size_t(index + 1)];
      size_t expected = size_t(dims[0]) * size_t(dims[1]) * size_t(dims[2]) * dtype_size(pixels.dtype);
      if (expected == 0 || part.size() != expected || int(pixels.names.size()) != pixels.channels)
        throw ServerError("protocol_error", "a result buffer does not match its description");
      const auto *begin = static_cast<const uint8_t *>(part.data());
      pixels.bytes.assign(begin, begin + part.size());
      results[pixels.frame] = std::move(pixels);
    }
  }
}

}  // namespace e2fgvi_ofx
