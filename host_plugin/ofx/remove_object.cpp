// The Remove Object OpenFX image effect: frames from the host, the fill from e2fgvi-server, results in a frame cache.
//
// Why this shape (the same as the Python bridge, host_plugin/bridge/effect.py): a host asks for one frame at a time,
// in any order and from several threads, but the engine is exact and cheapest over a range. So a render of frame t
// that misses the cache asks the server which shot frames the chunk around t reads (the protocol's `footprint`,
// answered from the engine's own plan), fetches exactly those from the host, submits them by value with `shot` = the
// node's range and `frames` = the chunk's stale frames, and keeps every result under a key made of the parameters
// and the content digests of the input frames that result reads. Each frame then equals the same frame of one
// whole-shot `e2fgvi remove`, bit for bit, whatever order the host asks in.
//
// Reference (clean-plate) frames: in the General context an optional Reference clip and its Reference frames
// setting (both from the bridge's describe()). Every job sends every listed frame (written once as a float EXR in
// the user's private scratch folder, named by content), and every cache key holds their content digests, so chunks
// with references equal one whole `e2fgvi remove --reference` and a repainted reference is never served stale.
#include <dlfcn.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "ofx_api.h"
#include "reference_files.h"
#include "remove_object_params.h"
#include "server_client.h"

extern char **environ;

namespace e2fgvi_ofx {
namespace {

constexpr const char *kPluginIdentifier = "org.e2fgvi.RemoveObject";
constexpr const char *kMatteClip = "Matte";
constexpr const char *kProcessShot = "process_shot";
constexpr size_t kCacheBudgetBytes = size_t(2) << 30;
constexpr const char *kServerCommandEnv = "E2FGVI_SERVER_COMMAND";

OfxHost *gHost = nullptr;
const OfxPropertySuiteV1 *gProps = nullptr;
const OfxImageEffectSuiteV1 *gEffects = nullptr;
const OfxParameterSuiteV1 *gParams = nullptr;
const OfxMessageSuiteV1 *gMessages = nullptr;
const OfxProgressSuiteV1 *gProgress = nullptr;

// --- digests -------------------------------------------------------------------------------------------------
// A 128-bit content digest (two independent 64-bit lanes of multiply-xorshift over 8-byte words): what the cache keys
// on. Not cryptographic; a host is not an adversary of its own frame cache.
struct Digest {
  uint64_t a = 0x9e3779b97f4a7c15ULL, b = 0xc2b2ae3d27d4eb4fULL;
  static uint64_t mix(uint64_t h, uint64_t v, uint64_t k) {
    h ^= v * k;
    h = (h << 29) | (h >> 35);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 32);
  }
  void update(const void *data, size_t size) {
    const auto *bytes = static_cast<const uint8_t *>(data);
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
      uint64_t word;
      std::memcpy(&word, bytes + i, 8);
      a = mix(a, word, 0x87c37b91114253d5ULL);
      b = mix(b, word ^ i, 0x4cf5ad432745937fULL);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, bytes + i, size - i);
    a = mix(a, tail ^ size, 0x87c37b91114253d5ULL);
    b = mix(b, tail + size, 0x4cf5ad432745937fULL);
  }
  void update(const std::string &text) { update(text.data(), text.size()); }
  std::string hex() const {
    char out[33];
    std::snprintf(out, sizeof out, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
    return out;
  }
};

// --- the frame cache -----------------------------------------------------------------------------------------
struct CacheEntry {
  std::string key;
  std::shared_ptr<const Pixels> pixels;
};

class FrameCache {
 public:
  std::shared_ptr<const Pixels> get(int frame, const std::string &key) {
    auto found = entries_.find(frame);
    if (found == entries_.end() || found->second.key != key) return nullptr;
    order_.remove(frame);
    order_.push_back(frame);
    return found->second.pixels;
  }
  void put(int frame, const std::string &key, std::shared_ptr<const Pixels> pixels) {
    drop(frame);
    bytes_ += pixels->bytes.size();
    entries_[frame] = {key, std::move(pixels)};
    order_.push_back(frame);
    while (bytes_ > kCacheBudgetBytes && order_.size() > 1) drop(order_.front());
  }

 private:
  void drop(int frame) {
    auto found = entries_.find(frame);
    if (found == entries_.end()) return;
    bytes_ -= found->second.pixels->bytes.size();
    entries_.erase(found);
    order_.remove(frame);
  }
  std::unordered_map<int, CacheEntry> entries_;
  std::list<int> order_;
  size_t bytes_ = 0;
};

// --- one instance ----------------------------------------------------------------------------------------------
struct Instance {
  OfxImageEffectHandle handle = nullptr;
  std::string context;
  std::mutex mutex;  // one render at a time per node: a second thread waits, then finds its frame in the cache
  FrameCache cache;
  std::unordered_map<std::string, std::vector<int>> footprints;  // "params|shot|frame" -> shot frames it reads
  std::set<std::string> written;  // reference files this instance wrote (removed when it is destroyed)
};

Instance *instance_of(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props = nullptr;
  void *data = nullptr;
  if (gEffects->getPropertySet(effect, &props) != kOfxStatOK) return nullptr;
  gProps->propGetPointer(props, kOfxPropInstanceData, 0, &data);
  return static_cast<Instance *>(data);
}

void post_error(OfxImageEffectHandle effect, const std::string &message) {
  if (gMessages != nullptr) gMessages->message(effect, kOfxMessageError, "org.e2fgvi.RemoveObject.error", "%s",
                                               message.c_str());
}

// An error for the artist: what went wrong and what to do, one line, no code (the bridge's artist_message rule).
std::string artist_line(const ServerError &error) {
  const std::string &code = error.code;
  std::string line = error.what();
  if (code == "server_unavailable") return "Remove Object: the e2fgvi server does not answer: " + line;
  if (code == kCodeCancelled) return "Remove Object: cancelled";
  if (code == "config_error") return "Remove Object: check the node's settings: " + line;
  if (code == "checkpoint_error") return "Remove Object: weights missing (e2fgvi weights install, or engine propagate): " + line;
  return "Remove Object: " + line;
}

// --- parameters ----------------------------------------------------------------------------------------------
struct Settings {
  Fields request;  // the request keys of the parameters (no shot/frames)
  std::string server;
  int chunk_size = 1;
  std::string shot_text;  // as typed; empty: the Source clip's frame range
  std::string digest;     // of everything in `request`
  std::vector<int> reference_frames;  // of the Reference clip (its setting), sorted, unique; empty: none
};

OfxParamHandle param_handle(OfxImageEffectHandle effect, const char *name) {
  OfxParamSetHandle set = nullptr;
  OfxParamHandle param = nullptr;
  gEffects->getParamSet(effect, &set);
  if (gParams->paramGetHandle(set, name, &param, nullptr) != kOfxStatOK) return nullptr;
  return param;
}

std::string format_number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

// "1050,1080-1082" (also "1001-1100x2"), as the engine's frame ranges: sorted, unique; empty -> none.
std::vector<int> parse_reference_frames(const std::string &text) {
  const std::string label = std::string(kReferenceFramesLabel) + " (" + kReferenceFramesParam + ")";
  std::set<int> frames;
  size_t start = 0;
  if (text.find_first_not_of(" \t") == std::string::npos) return {};
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    std::string part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    long first = 0, last = 0, step = 1;
    char tail = 0;
    int n = 0;
    bool ok = std::sscanf(part.c_str(), " %ld %n", &first, &n) == 1;
    if (ok) {
      last = first;
      const char *rest = part.c_str() + n;
      if (*rest == '-') {
        int m = 0;
        ok = std::sscanf(rest + 1, " %ld %n", &last, &m) == 1;
        rest += 1 + m;
        if (ok && *rest == 'x') {
          ok = std::sscanf(rest + 1, " %ld %n", &step, &m) == 1;
          rest += 1 + m;
        }
      }
      ok = ok && std::sscanf(rest, " %c", &tail) != 1;
    }
    if (!ok)
      throw ServerError("config_error", label + ": cannot parse '" + part + "'; use e.g. 1050 or 1050,1080-1082");
    if (last < first || step < 1 || std::labs(first) > 999999999 || std::labs(last) > 999999999)
      throw ServerError("config_error", label + ": '" + part + "' is empty or out of range");
    if ((last - first) / step + 1 + long(frames.size()) > 100000)
      throw ServerError("config_error", label + ": more than 100000 frames; list the painted frames only");
    for (long f = first; f <= last; f += step) frames.insert(int(f));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return {frames.begin(), frames.end()};
}

// The node's settings at `time`; `general`: the General context, whose clips (Matte, Reference) carry settings too.
Settings read_settings(OfxImageEffectHandle effect, OfxTime time, bool general) {
  Settings settings;
  Digest digest;
  for (const ParamSpec &spec : kParams) {
    if (spec.clip != nullptr && !general) continue;  // a setting of a clip this context does not have
    OfxParamHandle param = param_handle(effect, spec.name);
    if (param == nullptr) throw ServerError("config_error", std::string("parameter ") + spec.name + " is missing");
    Value value = nullptr;
    switch (spec.kind) {
      case ParamKind::Int: {
        int v = 0;
        gParams->paramGetValueAtTime(param, time, &v);
        value = int64_t(v);
        break;
      }
      case ParamKind::Boolean: {
        int v = 0;
        gParams->paramGetValueAtTime(param, time, &v);
        value = bool(v);
        break;
      }
      case ParamKind::Double: {
        double v = 0;
        gParams->paramGetValueAtTime(param, time, &v);
        value = v;
        break;
      }
      case ParamKind::Choice: {
        int v = 0;
        gParams->paramGetValueAtTime(param, time, &v);
        value = std::string(spec.choices[std::clamp(v, 0, spec.n_choices - 1)]);
        break;
      }
      case ParamKind::String: {
        char *v = nullptr;
        gParams->paramGetValueAtTime(param, time, &v);
        std::string text = v ? v : "";
        if (!text.empty()) value = text;
        break;
      }
    }
    if (std::strcmp(spec.name, "server") == 0) {
      settings.server = std::holds_alternative<std::string>(value) ? std::get<std::string>(value) : kDefaultAddress;
      continue;
    }
    if (std::strcmp(spec.name, "chunk_size") == 0) {
      settings.chunk_size = std::max<int64_t>(1, std::get<int64_t>(value));
      continue;
    }
    if (std::strcmp(spec.name, "shot") == 0) {
      settings.shot_text = std::holds_alternative<std::string>(value) ? std::get<std::string>(value) : "";
      continue;
    }
    if (std::strcmp(spec.name, kReferenceFramesParam) == 0) {  // goes into every key with the references' content
      if (std::holds_alternative<std::string>(value))
        settings.reference_frames = parse_reference_frames(std::get<std::string>(value));
      continue;
    }
    if (!spec.request || std::holds_alternative<std::nullptr_t>(value)) continue;  // None: the engine's default
    std::string as_text = std::visit(
        [](const auto &v) -> std::string {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) return "s" + v;
          else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            std::string joined = "l";
            for (const auto &item : v) joined += std::to_string(item.size()) + ":" + item;
            return joined;
          } else if constexpr (std::is_same_v<T, double>) return "d" + format_number(v);
          else if constexpr (std::is_same_v<T, std::nullptr_t>) return "n";
          else return "i" + std::to_string(v);
        },
        value);
    digest.update(std::string(spec.name) + "=" + as_text + "|");
    settings.request.emplace_back(spec.name, value);
  }
  settings.digest = digest.hex();
  return settings;
}

// --- clips and images ----------------------------------------------------------------------------------------
OfxImageClipHandle clip_handle(OfxImageEffectHandle effect, const char *name) {
  OfxImageClipHandle clip = nullptr;
  if (gEffects->clipGetHandle(effect, name, &clip, nullptr) != kOfxStatOK) return nullptr;
  return clip;
}

bool clip_connected(OfxImageClipHandle clip) {
  if (clip == nullptr) return false;
  OfxPropertySetHandle props = nullptr;
  int connected = 0;
  gEffects->clipGetPropertySet(clip, &props);
  gProps->propGetInt(props, kOfxImageClipPropConnected, 0, &connected);
  return connected != 0;
}

std::pair<int, int> clip_frame_range(OfxImageClipHandle clip) {
  OfxPropertySetHandle props = nullptr;
  double range[2] = {0, 0};
  gEffects->clipGetPropertySet(clip, &props);
  gProps->propGetDoubleN(props, kOfxImageEffectPropFrameRange, 2, range);
  return {int(std::lround(range[0])), int(std::lround(range[1]))};
}

// One input frame as it travels: rows top first. 8-bit stays uint8, half stays float16 (so by-value equals the
// files' own precision), 16-bit becomes float32 in 0..1, float stays float32.
struct HostFrame {
  Pixels pixels;
  OfxRectI bounds{0, 0, 0, 0};
  std::string digest;
};

// A host image fetched with clipGetImage, released when it goes out of scope, with the properties both the
// input fetch and the output write read.
struct HeldImage {
  OfxPropertySetHandle image = nullptr;
  void *data = nullptr;
  int row_bytes = 0;
  OfxRectI bounds{};
  std::string depth, components;

  explicit HeldImage(OfxPropertySetHandle handle) : image(handle) {
    char *bit = nullptr, *comp = nullptr;
    gProps->propGetPointer(image, kOfxImagePropData, 0, &data);
    gProps->propGetInt(image, kOfxImagePropRowBytes, 0, &row_bytes);
    gProps->propGetIntN(image, kOfxImagePropBounds, 4, &bounds.x1);
    gProps->propGetString(image, kOfxImageEffectPropPixelDepth, 0, &bit);
    gProps->propGetString(image, kOfxImageEffectPropComponents, 0, &comp);
    depth = bit ? bit : "";
    components = comp ? comp : "";
  }
  ~HeldImage() { gEffects->clipReleaseImage(image); }
  HeldImage(const HeldImage &) = delete;
  HeldImage &operator=(const HeldImage &) = delete;
};

std::shared_ptr<HostFrame> fetch_frame(OfxImageClipHandle clip, int frame, const char *clip_name) {
  OfxPropertySetHandle image = nullptr;
  if (gEffects->clipGetImage(clip, OfxTime(frame), nullptr, &image) != kOfxStatOK || image == nullptr)
    throw ServerError("missing_frames", std::string("the host gave no ") + clip_name + " image at frame " +
                                            std::to_string(frame));
  HeldImage held(image);
  const void *data = held.data;
  const int row_bytes = held.row_bytes;
  const OfxRectI bounds = held.bounds;
  if (data == nullptr || held.depth.empty() || held.components.empty())
    throw ServerError("missing_frames", std::string("the host's ") + clip_name + " image at frame " +
                                            std::to_string(frame) + " has no pixels");
  auto out = std::make_shared<HostFrame>();
  out->bounds = bounds;
  Pixels &px = out->pixels;
  px.frame = frame;
  px.width = bounds.x2 - bounds.x1;
  px.height = bounds.y2 - bounds.y1;
  const std::string &comp = held.components, &bit = held.depth;
  if (comp == kOfxImageComponentRGBA) px.names = {"R", "G", "B", "A"};
  else if (comp == kOfxImageComponentRGB) px.names = {"R", "G", "B"};
  else if (comp == kOfxImageComponentAlpha) px.names = {"A"};
  else throw ServerError("config_error", std::string(clip_name) + " has components " + comp + "; use RGBA, RGB or Alpha");
  px.channels = int(px.names.size());
  size_t in_size = bit == kOfxBitDepthByte ? 1 : (bit == kOfxBitDepthShort || bit == kOfxBitDepthHalf) ? 2 : 4;
  if (bit != kOfxBitDepthByte && bit != kOfxBitDepthShort && bit != kOfxBitDepthHalf && bit != kOfxBitDepthFloat)
    throw ServerError("config_error", std::string(clip_name) + " has pixel depth " + bit);
  px.dtype = bit == kOfxBitDepthByte ? "uint8" : bit == kOfxBitDepthHalf ? "float16" : "float32";
  size_t out_size = bit == kOfxBitDepthByte ? 1 : bit == kOfxBitDepthHalf ? 2 : 4;
  size_t values = size_t(px.width) * px.channels;
  px.bytes.resize(size_t(px.height) * values * out_size);
  for (int row = 0; row < px.height; ++row) {
    // OpenFX rows go up from y1; the wire's go down from the top
    const auto *src = static_cast<const uint8_t *>(data) + ptrdiff_t(px.height - 1 - row) * row_bytes;
    uint8_t *dst = px.bytes.data() + size_t(row) * values * out_size;
    if (bit == kOfxBitDepthShort) {
      for (size_t i = 0; i < values; ++i) {
        uint16_t v;
        std::memcpy(&v, src + 2 * i, 2);
        float f = float(v) / 65535.0f;
        std::memcpy(dst + 4 * i, &f, 4);
      }
    } else {
      std::memcpy(dst, src, values * in_size);
    }
  }
  Digest digest;
  digest.update(px.dtype + std::to_string(px.width) + "x" + std::to_string(px.height) + comp);
  digest.update(px.bytes.data(), px.bytes.size());
  out->digest = digest.hex();
  return out;
}

float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff, bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400)) {
        mantissa <<= 1;
        --exponent;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000 | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int32_t exponent = int32_t((x >> 23) & 0xff) - 127 + 15;
  uint32_t mantissa = x & 0x7fffff;
  if (((x >> 23) & 0xff) == 0xff) return uint16_t(sign | 0x7c00 | (mantissa ? 0x200 : 0));
  if (exponent >= 31) return uint16_t(sign | 0x7c00);
  if (exponent <= 0) {
    if (exponent < -10) return uint16_t(sign);
    mantissa |= 0x800000;
    uint32_t shift = uint32_t(14 - exponent);
    uint32_t half = mantissa >> shift, rest = mantissa & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1))) ++half;
    return uint16_t(sign | half);
  }
  uint32_t half = sign | (uint32_t(exponent) << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;
  return uint16_t(half);
}

float read_value(const Pixels &px, size_t index) {
  if (px.dtype == "uint8") return px.bytes[index] / 255.0f;
  if (px.dtype == "float16") {
    uint16_t h;
    std::memcpy(&h, px.bytes.data() + 2 * index, 2);
    return half_to_float(h);
  }
  float f;
  std::memcpy(&f, px.bytes.data() + 4 * index, 4);
  return f;
}

// Copy the result (and, for a channel it lacks, Source's) into the output image inside the render window.
void write_output(OfxImageEffectHandle effect, OfxPropertySetHandle in_args, const Pixels &result,
                  const HostFrame &source) {
  OfxImageClipHandle output = clip_handle(effect, kOfxImageEffectOutputClipName);
  double time = 0;
  OfxRectI window{};
  gProps->propGetDouble(in_args, kOfxPropTime, 0, &time);
  gProps->propGetIntN(in_args, kOfxImageEffectPropRenderWindow, 4, &window.x1);
  OfxPropertySetHandle image = nullptr;
  if (gEffects->clipGetImage(output, time, nullptr, &image) != kOfxStatOK || image == nullptr)
    throw ServerError("e2fgvi_error", "the host gave no output image");
  HeldImage held(image);
  void *data = held.data;
  const int row_bytes = held.row_bytes;
  const OfxRectI bounds = held.bounds;
  const std::string &comp = held.components, &bit = held.depth;
  std::vector<std::string> names = comp == kOfxImageComponentRGBA  ? std::vector<std::string>{"R", "G", "B", "A"}
                                   : comp == kOfxImageComponentRGB ? std::vector<std::string>{"R", "G", "B"}
                                                                   : std::vector<std::string>{"A"};
  if (result.width != source.pixels.width || result.height != source.pixels.height)
    throw ServerError("e2fgvi_error", "the server returned a frame of another size than Source");
  // where each output channel comes from: (from result?, channel index)
  std::vector<std::pair<const Pixels *, int>> from;
  for (const auto &name : names) {
    auto pick = [&name](const Pixels &px) {
      auto it = std::find(px.names.begin(), px.names.end(), name);
      return it == px.names.end() ? -1 : int(it - px.names.begin());
    };
    int in_result = pick(result);
    if (in_result >= 0) from.emplace_back(&result, in_result);
    else from.emplace_back(&source.pixels, pick(source.pixels));
  }
  int x1 = std::max({window.x1, bounds.x1, source.bounds.x1}), x2 = std::min({window.x2, bounds.x2, source.bounds.x2});
  int y1 = std::max({window.y1, bounds.y1, source.bounds.y1}), y2 = std::min({window.y2, bounds.y2, source.bounds.y2});
  size_t out_size = bit == kOfxBitDepthByte ? 1 : (bit == kOfxBitDepthShort || bit == kOfxBitDepthHalf) ? 2 : 4;
  for (int y = y1; y < y2; ++y) {
    int row = source.bounds.y2 - 1 - y;  // wire row of OpenFX line y
    auto *dst_row = static_cast<uint8_t *>(data) + ptrdiff_t(y - bounds.y1) * row_bytes;
    for (int x = x1; x < x2; ++x) {
      int column = x - source.bounds.x1;
      uint8_t *dst = dst_row + size_t(x - bounds.x1) * names.size() * out_size;
      for (size_t c = 0; c < names.size(); ++c) {
        const Pixels *px = from[c].first;
        int channel = from[c].second;
        uint8_t *target = dst + c * out_size;
        if (channel < 0) {  // neither has it (an alpha Source never had): opaque
          float one = 1.0f;
          if (bit == kOfxBitDepthFloat) std::memcpy(target, &one, 4);
          else if (bit == kOfxBitDepthHalf) { uint16_t h = 0x3c00; std::memcpy(target, &h, 2); }
          else if (bit == kOfxBitDepthShort) { uint16_t s = 65535; std::memcpy(target, &s, 2); }
          else *target = 255;
          continue;
        }
        size_t index = (size_t(row) * px->width + column) * px->channels + channel;
        size_t in_size = px->dtype == "uint8" ? 1 : px->dtype == "float16" ? 2 : 4;
        bool native = px->dtype == (bit == kOfxBitDepthByte ? "uint8" : bit == kOfxBitDepthHalf ? "float16" : "float32");
        if (native && bit != kOfxBitDepthShort) {
          std::memcpy(target, px->bytes.data() + index * in_size, in_size);
          continue;
        }
        float v = read_value(*px, index);
        if (bit == kOfxBitDepthFloat) std::memcpy(target, &v, 4);
        else if (bit == kOfxBitDepthHalf) { uint16_t h = float_to_half(v); std::memcpy(target, &h, 2); }
        else if (bit == kOfxBitDepthShort) {
          uint16_t s = uint16_t(std::lround(std::clamp(v, 0.0f, 1.0f) * 65535.0f));
          std::memcpy(target, &s, 2);
        } else *target = uint8_t(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f));
      }
    }
  }
}

// --- the server ---------------------------------------------------------------------------------------------
std::string bundle_resources() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void *>(&OfxGetPlugin), &info) == 0 || info.dli_fname == nullptr) return "";
  std::string binary = info.dli_fname;  // .../Contents/Linux-x86-64/RemoveObject.ofx
  auto cut = binary.rfind('/');
  if (cut == std::string::npos) return "";
  auto contents = binary.substr(0, cut).rfind('/');
  return contents == std::string::npos ? "" : binary.substr(0, contents) + "/Resources";
}

// The command that starts a server: $E2FGVI_SERVER_COMMAND, else what `e2fgvi install ofx` recorded in the bundle.
std::string server_command() {
  if (const char *command = std::getenv(kServerCommandEnv); command && *command) return command;
  std::ifstream recorded(bundle_resources() + "/server-command");
  std::string command;
  std::getline(recorded, command);
  return command;
}

std::mutex gStartMutex;

// A server answers at `address`, or one is started from the recorded command (local addresses only) and waited for.
void ensure_server(const std::string &address) {
  try {
    ServerClient(address).hello(ServerClient::silence_limit_s(), 0);
    return;
  } catch (const ServerError &) {
  }
  std::lock_guard<std::mutex> lock(gStartMutex);
  try {  // another thread may have started it meanwhile
    ServerClient(address).hello(ServerClient::silence_limit_s(), 0);
    return;
  } catch (const ServerError &) {
  }
  std::string command = server_command();
  if (command.empty() || !is_loopback_endpoint(address))
    throw ServerError("server_unavailable", "nothing answers at " + address +
                                                " and no server command is known (run e2fgvi install ofx, or start "
                                                "e2fgvi-server)");
  std::string line = "exec " + command + " --bind '" + address + "' >/dev/null 2>&1";
  const char *argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);  // its own session: it outlives this host
  pid_t pid = 0;
  int failed = posix_spawn(&pid, "/bin/sh", nullptr, &attributes, const_cast<char *const *>(argv), environ);
  posix_spawnattr_destroy(&attributes);
  if (failed != 0) throw ServerError("server_unavailable", "cannot start the server: " + std::string(strerror(failed)));
  ServerClient(address).hello(kLocalServerStartTimeoutS, 1 << 20);  // until the start timeout
}

// --- render --------------------------------------------------------------------------------------------------
struct Shot {
  int first = 0, last = 0;
  std::string text;
};

Shot shot_of(OfxImageEffectHandle effect, const Settings &settings) {
  Shot shot;
  if (!settings.shot_text.empty()) {
    int first = 0, last = 0;
    char extra = 0;
    int n = std::sscanf(settings.shot_text.c_str(), "%d-%d%c", &first, &last, &extra);
    if (n == 1) last = first;
    if (n < 1 || n > 2 || last < first)
      throw ServerError("config_error", "Shot range (shot) must look like 1001-1100, got '" + settings.shot_text + "'");
    shot.first = first;
    shot.last = last;
  } else {
    auto [first, last] = clip_frame_range(clip_handle(effect, kOfxImageEffectSimpleSourceClipName));
    shot.first = first;
    shot.last = last;
  }
  shot.text = std::to_string(shot.first) + "-" + std::to_string(shot.last);
  return shot;
}

std::string format_frames(std::vector<int> frames) {
  std::sort(frames.begin(), frames.end());
  frames.erase(std::unique(frames.begin(), frames.end()), frames.end());
  std::string out;
  for (size_t i = 0; i < frames.size();) {
    size_t end = i;
    while (end + 1 < frames.size() && frames[end + 1] == frames[end] + 1) ++end;
    if (!out.empty()) out += ",";
    out += std::to_string(frames[i]);
    if (end > i) out += "-" + std::to_string(frames[end]);
    i = end + 1;
  }
  return out;
}

class Render {
 public:
  Render(OfxImageEffectHandle effect, Instance &instance, OfxTime time)
      : effect_(effect),
        instance_(instance),
        settings_(read_settings(effect, time, instance.context == kOfxImageEffectContextGeneral)),
        shot_(shot_of(effect, settings_)) {
    source_ = clip_handle(effect, kOfxImageEffectSimpleSourceClipName);
    bool general = instance.context == kOfxImageEffectContextGeneral;
    OfxImageClipHandle matte = general ? clip_handle(effect, kMatteClip) : nullptr;
    matte_ = clip_connected(matte) ? matte : nullptr;
    OfxImageClipHandle reference = general ? clip_handle(effect, kReferenceClip) : nullptr;
    reference_ = clip_connected(reference) ? reference : nullptr;
  }

  // The reference frames this render sends (none when the setting is empty); refused in one line when they cannot
  // be sent: no Reference clip connected, or a frame outside the shot (the bridge's check_reference_frames).
  const std::vector<int> &reference_frames() const {
    const std::vector<int> &frames = settings_.reference_frames;
    const std::string label = std::string(kReferenceFramesLabel) + " (" + kReferenceFramesParam + ")";
    if (!frames.empty() && reference_ == nullptr)
      throw ServerError("config_error", label + " are set: connect a " + kReferenceClip + " input, or empty " +
                                            kReferenceFramesLabel);
    for (int f : frames)
      if (f < shot_.first || f > shot_.last)
        throw ServerError("config_error", label + ": frame " + std::to_string(f) + " is outside the shot range " +
                                              shot_.text);
    return frames;
  }

  // One reference frame as the host gives it (RGB, or RGBA with alpha = which pixels to trust).
  std::shared_ptr<HostFrame> reference_frame(int number) {
    std::shared_ptr<HostFrame> frame;
    try {
      frame = input(reference_, number, kReferenceClip);
    } catch (const ServerError &error) {
      if (error.code != "missing_frames") throw;  // e.g. a depth it cannot read: that message says so
      throw ServerError("config_error", std::string("the ") + kReferenceClip + " input gives no image at frame " +
                                            std::to_string(number) + " (listed in " + kReferenceFramesLabel +
                                            "): check its frame range, or the list");
    }
    if (frame->pixels.channels < 3)
      throw ServerError("config_error", std::string("the ") + kReferenceClip + " input at frame " +
                                            std::to_string(number) + " is alpha only: give RGB, or RGBA");
    return frame;
  }

  // The reference frames and their content, in every frame's key: any window may carry a reference to any frame.
  std::string references_digest() {
    std::string out = "references";
    for (int n : reference_frames()) out += "|" + std::to_string(n) + ":" + reference_frame(n)->digest;
    return out;
  }

  // The request's `reference` entries ("N=/abs/path"): each frame written once to the private scratch folder, named
  // by its content (reference.N.<digest>.exr, or .png for an 8-bit image: sent as integers like an 8-bit plate, see
  // reference_files.h; atomic, so the server never reads half a file).
  std::vector<std::string> reference_entries() {
    std::vector<std::string> entries;
    for (int n : reference_frames()) {
      std::shared_ptr<HostFrame> frame = reference_frame(n);
      const Pixels &px = frame->pixels;
      const bool bytes = px.dtype == "uint8";
      std::string path;
      try {
        path = private_scratch_folder() + "/reference." + std::to_string(n) + "." + frame->digest +
               (bytes ? ".png" : ".exr");
        if (access(path.c_str(), R_OK) != 0) {
          if (bytes) {
            write_file_atomic(path, png8_bytes(px.width, px.height, px.channels, px.bytes));
          } else {
            std::vector<float> values(size_t(px.width) * px.height * px.channels);
            for (size_t i = 0; i < values.size(); ++i) values[i] = read_value(px, i);
            write_file_atomic(path, float_exr_bytes(px.width, px.height, px.names, values));
          }
          instance_.written.insert(path);
        }
      } catch (const ServerError &) {
        throw;
      } catch (const std::runtime_error &error) {
        throw ServerError("config_error", std::string("cannot write reference frame ") + std::to_string(n) + ": " +
                                              error.what());
      }
      entries.push_back(std::to_string(n) + "=" + path);
    }
    return entries;
  }

  std::vector<int> chunk_of(int frame) const {
    int start = shot_.first + (frame - shot_.first) / settings_.chunk_size * settings_.chunk_size;
    std::vector<int> out;
    for (int f = start; f <= std::min(shot_.last, start + settings_.chunk_size - 1); ++f) out.push_back(f);
    return out;
  }

  void check_in_shot(int frame) const {
    if (frame < shot_.first || frame > shot_.last)
      throw ServerError("config_error", "frame " + std::to_string(frame) + " is outside the shot range " + shot_.text);
  }

  // The shot frames `frame` reads (the server's footprint, asked once per chunk and parameter set).
  const std::vector<int> &reads_of(int frame) {
    std::string key = settings_.digest + "|" + shot_.text + "|" + std::to_string(frame);
    auto found = instance_.footprints.find(key);
    if (found != instance_.footprints.end()) return found->second;
    auto chunk = chunk_of(frame);
    Fields request = base_request();
    request.emplace_back("frames", format_frames(chunk));
    auto answer = client().footprint(request);
    for (int f : chunk) {
      auto it = answer.find(f);
      if (it == answer.end()) throw ServerError("protocol_error", "the server's footprint misses frame " + std::to_string(f));
      instance_.footprints[settings_.digest + "|" + shot_.text + "|" + std::to_string(f)] = it->second;
    }
    return instance_.footprints[key];
  }

  std::string key_of(int frame) {
    Digest digest;
    digest.update(settings_.digest + "|" + shot_.text + "|" + instance_.context + "|" + references_digest());
    for (int number : reads_of(frame)) {
      digest.update("|" + std::to_string(number) + ":" + input(source_, number, "Source")->digest);
      if (matte_ != nullptr) digest.update("/" + input(matte_, number, "Matte")->digest);
    }
    return digest.hex();
  }

  std::shared_ptr<const Pixels> frame(int t, const JobCallbacks &callbacks) {
    check_in_shot(t);
    std::string key = key_of(t);
    if (auto hit = instance_.cache.get(t, key)) return hit;
    return produce(chunk_of(t), callbacks).at(t);
  }

  // One job for the stale frames of `frames`; results go into the cache.
  std::map<int, std::shared_ptr<const Pixels>> produce(const std::vector<int> &frames, const JobCallbacks &callbacks) {
    std::map<int, std::string> keys;
    std::map<int, std::shared_ptr<const Pixels>> out;
    std::vector<int> stale;
    for (int f : frames) {
      keys[f] = key_of(f);
      if (auto hit = instance_.cache.get(f, keys[f])) out[f] = hit;
      else stale.push_back(f);
    }
    if (stale.empty()) return out;
    std::set<int> reads;
    for (int f : stale) reads.insert(reads_of(f).begin(), reads_of(f).end());
    std::vector<const Pixels *> plates, mattes;
    for (int n : reads) {
      plates.push_back(&input(source_, n, "Source")->pixels);
      if (matte_ != nullptr) mattes.push_back(&input(matte_, n, "Matte")->pixels);
    }
    Fields request = base_request();
    request.emplace_back("frames", format_frames(stale));
    std::vector<std::string> references = reference_entries();  // all of them, whatever the chunk: exact chunks
    if (!references.empty()) request.emplace_back("reference", std::move(references));
    auto results = client().run_job(request, plates, mattes, callbacks);
    for (int f : stale) {
      auto found = results.find(f);
      if (found == results.end())
        throw ServerError("internal_error", "the job returned no frame " + std::to_string(f));
      auto pixels = std::make_shared<const Pixels>(std::move(found->second));
      instance_.cache.put(f, keys[f], pixels);
      out[f] = pixels;
    }
    return out;
  }

  std::shared_ptr<HostFrame> input(OfxImageClipHandle clip, int number, const char *name) {
    auto &frames = clip == source_ ? source_frames_ : clip == matte_ ? matte_frames_ : reference_frames_;
    auto found = frames.find(number);
    if (found != frames.end()) return found->second;
    return frames[number] = fetch_frame(clip, number, name);
  }

  const Shot &shot() const { return shot_; }
  OfxImageClipHandle source() const { return source_; }

 private:
  Fields base_request() const {
    Fields request = settings_.request;
    request.emplace_back("shot", shot_.text);
    return request;
  }
  ServerClient &client() {
    if (!client_) {
      ensure_server(settings_.server);
      client_ = std::make_unique<ServerClient>(settings_.server);
    }
    return *client_;
  }

  OfxImageEffectHandle effect_;
  Instance &instance_;
  Settings settings_;
  Shot shot_;
  OfxImageClipHandle source_ = nullptr, matte_ = nullptr, reference_ = nullptr;
  std::unordered_map<int, std::shared_ptr<HostFrame>> source_frames_, matte_frames_, reference_frames_;
  std::unique_ptr<ServerClient> client_;
};

JobCallbacks callbacks_for(OfxImageEffectHandle effect, bool *started) {
  JobCallbacks callbacks;
  callbacks.aborted = [effect]() { return gEffects->abort(effect) != 0; };
  callbacks.progress = [effect, started](int done, int total) {
    if (gProgress == nullptr || total <= 0) return;
    if (!*started) *started = gProgress->progressStart(effect, "Remove Object") == kOfxStatOK;
    gProgress->progressUpdate(effect, double(done) / total);
  };
  return callbacks;
}

OfxStatus render(OfxImageEffectHandle effect, OfxPropertySetHandle in_args) {
  Instance *instance = instance_of(effect);
  if (instance == nullptr) return kOfxStatErrBadHandle;
  double time = 0;
  gProps->propGetDouble(in_args, kOfxPropTime, 0, &time);
  bool started = false;
  try {
    std::lock_guard<std::mutex> lock(instance->mutex);
    Render job(effect, *instance, time);
    int t = int(std::lround(time));
    auto result = job.frame(t, callbacks_for(effect, &started));
    write_output(effect, in_args, *result, *job.input(job.source(), t, "Source"));
  } catch (const ServerError &error) {
    if (started) gProgress->progressEnd(effect);
    if (error.code == kCodeCancelled || gEffects->abort(effect)) return kOfxStatFailed;  // the host asked for it
    post_error(effect, artist_line(error));
    return kOfxStatFailed;
  } catch (const std::exception &error) {
    if (started) gProgress->progressEnd(effect);
    post_error(effect, std::string("Remove Object: ") + error.what());
    return kOfxStatFailed;
  }
  if (started) gProgress->progressEnd(effect);
  return kOfxStatOK;
}

// "Process shot": the whole shot as one job, with the host's progress; the results fill the cache.
OfxStatus process_shot(OfxImageEffectHandle effect, OfxTime time) {
  Instance *instance = instance_of(effect);
  if (instance == nullptr) return kOfxStatErrBadHandle;
  bool started = false;
  try {
    std::lock_guard<std::mutex> lock(instance->mutex);
    Render job(effect, *instance, time);
    std::vector<int> frames;
    for (int f = job.shot().first; f <= job.shot().last; ++f) frames.push_back(f);
    job.produce(frames, callbacks_for(effect, &started));
  } catch (const ServerError &error) {
    if (started) gProgress->progressEnd(effect);
    if (error.code != kCodeCancelled) post_error(effect, artist_line(error));
    return kOfxStatFailed;
  } catch (const std::exception &error) {
    if (started) gProgress->progressEnd(effect);
    post_error(effect, std::string("Remove Object: ") + error.what());
    return kOfxStatFailed;
  }
  if (started) gProgress->progressEnd(effect);
  return kOfxStatOK;
}

// --- describe ----------------------------------------------------------------------------------------------
OfxStatus describe(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props = nullptr;
  gEffects->getPropertySet(effect, &props);
  gProps->propSetString(props, kOfxPropLabel, 0, "Remove Object");
  gProps->propSetString(props, kOfxImageEffectPluginPropGrouping, 0, "E2FGVI");
  gProps->propSetString(props, kOfxPropPluginDescription, 0,
                        "Removes what the matte covers with E2FGVI video inpainting (e2fgvi-server)");
  gProps->propSetString(props, kOfxImageEffectPropSupportedContexts, 0, kOfxImageEffectContextGeneral);
  gProps->propSetString(props, kOfxImageEffectPropSupportedContexts, 1, kOfxImageEffectContextFilter);
  const char *depths[] = {kOfxBitDepthFloat, kOfxBitDepthHalf, kOfxBitDepthShort, kOfxBitDepthByte};
  for (int i = 0; i < 4; ++i) gProps->propSetString(props, kOfxImageEffectPropSupportedPixelDepths, i, depths[i]);
  gProps->propSetInt(props, kOfxImageEffectPluginPropSingleInstance, 0, 0);
  gProps->propSetString(props, kOfxImageEffectPluginRenderThreadSafety, 0, kOfxImageEffectRenderFullySafe);
  gProps->propSetInt(props, kOfxImageEffectPluginPropHostFrameThreading, 0, 0);
  gProps->propSetInt(props, kOfxImageEffectPropSupportsMultiResolution, 0, 0);
  gProps->propSetInt(props, kOfxImageEffectPropSupportsTiles, 0, 1);
  gProps->propSetInt(props, kOfxImageEffectPropTemporalClipAccess, 0, 1);
  gProps->propSetInt(props, kOfxImageEffectPropSupportsMultipleClipDepths, 0, 1);
  return kOfxStatOK;
}

OfxStatus describe_in_context(OfxImageEffectHandle effect, OfxPropertySetHandle in_args) {
  char *context = nullptr;
  gProps->propGetString(in_args, kOfxImageEffectPropContext, 0, &context);
  bool general = context != nullptr && std::strcmp(context, kOfxImageEffectContextGeneral) == 0;
  OfxPropertySetHandle clip = nullptr;
  gEffects->clipDefine(effect, kOfxImageEffectSimpleSourceClipName, &clip);
  gProps->propSetString(clip, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
  if (general) gProps->propSetString(clip, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
  gProps->propSetInt(clip, kOfxImageEffectPropTemporalClipAccess, 0, 1);
  gProps->propSetInt(clip, kOfxImageEffectPropSupportsTiles, 0, 0);
  if (general) {
    gEffects->clipDefine(effect, kMatteClip, &clip);
    gProps->propSetString(clip, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentAlpha);
    gProps->propSetString(clip, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGBA);
    gProps->propSetInt(clip, kOfxImageClipPropOptional, 0, 1);
    gProps->propSetInt(clip, kOfxImageClipPropIsMask, 0, 1);
    gProps->propSetInt(clip, kOfxImageEffectPropTemporalClipAccess, 0, 1);
    gProps->propSetInt(clip, kOfxImageEffectPropSupportsTiles, 0, 0);
    // clean frames the artist painted, read at its Reference frames only; optional: hosts may leave it unconnected
    gEffects->clipDefine(effect, kReferenceClip, &clip);
    gProps->propSetString(clip, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
    gProps->propSetString(clip, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
    gProps->propSetInt(clip, kOfxImageClipPropOptional, 0, 1);
    gProps->propSetInt(clip, kOfxImageEffectPropTemporalClipAccess, 0, 1);
    gProps->propSetInt(clip, kOfxImageEffectPropSupportsTiles, 0, 0);
  }
  gEffects->clipDefine(effect, kOfxImageEffectOutputClipName, &clip);
  gProps->propSetString(clip, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
  if (general) gProps->propSetString(clip, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
  gProps->propSetInt(clip, kOfxImageEffectPropSupportsTiles, 0, 1);

  OfxParamSetHandle params = nullptr;
  gEffects->getParamSet(effect, &params);
  for (const ParamSpec &spec : kParams) {
    if (spec.clip != nullptr && !general) continue;  // the setting of a clip only the General context has
    const char *type = spec.kind == ParamKind::Int       ? kOfxParamTypeInteger
                       : spec.kind == ParamKind::Double  ? kOfxParamTypeDouble
                       : spec.kind == ParamKind::Boolean ? kOfxParamTypeBoolean
                       : spec.kind == ParamKind::Choice  ? kOfxParamTypeChoice
                                                         : kOfxParamTypeString;
    OfxPropertySetHandle p = nullptr;
    if (gParams->paramDefine(params, type, spec.name, &p) != kOfxStatOK) return kOfxStatFailed;
    gProps->propSetString(p, kOfxPropLabel, 0, spec.label);
    gProps->propSetString(p, kOfxParamPropHint, 0, spec.hint);
    gProps->propSetString(p, kOfxParamPropScriptName, 0, spec.name);
    gProps->propSetInt(p, kOfxParamPropAnimates, 0, 0);
    switch (spec.kind) {
      case ParamKind::Int:
      case ParamKind::Boolean:
        gProps->propSetInt(p, kOfxParamPropDefault, 0, int(spec.default_number));
        if (spec.kind == ParamKind::Int) {
          if (spec.has_min) gProps->propSetInt(p, kOfxParamPropMin, 0, int(spec.minimum));
          if (spec.has_max) gProps->propSetInt(p, kOfxParamPropMax, 0, int(spec.maximum));
          if (spec.has_min) gProps->propSetInt(p, kOfxParamPropDisplayMin, 0, int(spec.minimum));
          if (spec.has_max) gProps->propSetInt(p, kOfxParamPropDisplayMax, 0, int(spec.maximum));
        }
        break;
      case ParamKind::Double:
        gProps->propSetDouble(p, kOfxParamPropDefault, 0, spec.default_number);
        gProps->propSetString(p, kOfxParamPropDoubleType, 0, kOfxParamDoubleTypePlain);
        if (spec.has_min) gProps->propSetDouble(p, kOfxParamPropMin, 0, spec.minimum);
        if (spec.has_max) gProps->propSetDouble(p, kOfxParamPropMax, 0, spec.maximum);
        if (spec.has_min) gProps->propSetDouble(p, kOfxParamPropDisplayMin, 0, spec.minimum);
        if (spec.has_max) gProps->propSetDouble(p, kOfxParamPropDisplayMax, 0, spec.maximum);
        break;
      case ParamKind::Choice:
        for (int i = 0; i < spec.n_choices; ++i) gProps->propSetString(p, kOfxParamPropChoiceOption, i, spec.choices[i]);
        gProps->propSetInt(p, kOfxParamPropDefault, 0, int(spec.default_number));
        break;
      case ParamKind::String:
        gProps->propSetString(p, kOfxParamPropDefault, 0, spec.default_text);
        gProps->propSetString(p, kOfxParamPropStringMode, 0, kOfxParamStringIsSingleLine);
        break;
    }
  }
  OfxPropertySetHandle button = nullptr;
  if (gParams->paramDefine(params, kOfxParamTypePushButton, kProcessShot, &button) != kOfxStatOK) return kOfxStatFailed;
  gProps->propSetString(button, kOfxPropLabel, 0, "Process shot");
  gProps->propSetString(button, kOfxParamPropHint, 0,
                        "render the whole shot as one job now, with progress; later renders come from the cache");
  return kOfxStatOK;
}

// --- the other actions -------------------------------------------------------------------------------------
OfxStatus create_instance(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props = nullptr;
  gEffects->getPropertySet(effect, &props);
  auto *instance = new Instance();
  instance->handle = effect;
  char *context = nullptr;
  gProps->propGetString(props, kOfxImageEffectPropContext, 0, &context);
  instance->context = context ? context : kOfxImageEffectContextGeneral;
  gProps->propSetPointer(props, kOfxPropInstanceData, 0, instance);
  return kOfxStatOK;
}

OfxStatus destroy_instance(OfxImageEffectHandle effect) {
  Instance *instance = instance_of(effect);
  if (instance != nullptr)
    for (const std::string &path : instance->written) unlink(path.c_str());  // the reference frames it wrote
  OfxPropertySetHandle props = nullptr;
  gEffects->getPropertySet(effect, &props);
  gProps->propSetPointer(props, kOfxPropInstanceData, 0, nullptr);
  delete instance;
  return kOfxStatOK;
}

OfxStatus clip_preferences(OfxImageEffectHandle effect, OfxPropertySetHandle out_args) {
  // Output as Source (depth and components): the fill keeps the plate's precision.
  OfxImageClipHandle source = clip_handle(effect, kOfxImageEffectSimpleSourceClipName);
  OfxPropertySetHandle props = nullptr;
  gEffects->clipGetPropertySet(source, &props);
  char *depth = nullptr, *components = nullptr;
  gProps->propGetString(props, kOfxImageEffectPropPixelDepth, 0, &depth);
  gProps->propGetString(props, kOfxImageEffectPropComponents, 0, &components);
  std::string out_depth = std::string(kOfxImageClipPropDepthPrefix) + kOfxImageEffectOutputClipName;
  std::string out_components = std::string(kOfxImageClipPropComponentsPrefix) + kOfxImageEffectOutputClipName;
  if (depth && *depth && std::strcmp(depth, kOfxBitDepthNone) != 0) gProps->propSetString(out_args, out_depth.c_str(), 0, depth);
  if (components && *components && std::strcmp(components, kOfxImageComponentNone) != 0)
    gProps->propSetString(out_args, out_components.c_str(), 0, components);
  gProps->propSetInt(out_args, kOfxImageEffectFrameVarying, 0, 1);
  return kOfxStatOK;
}

void add_ranges(OfxPropertySetHandle out_args, const std::string &name, const std::vector<int> &frames) {
  std::vector<double> ranges;
  std::vector<int> sorted(frames);
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  for (size_t i = 0; i < sorted.size();) {
    size_t end = i;
    while (end + 1 < sorted.size() && sorted[end + 1] == sorted[end] + 1) ++end;
    ranges.push_back(sorted[i]);
    ranges.push_back(sorted[end]);
    i = end + 1;
  }
  gProps->propSetDoubleN(out_args, name.c_str(), int(ranges.size()), ranges.data());
}

// Frames needed: the shot frames a render of t may read, i.e. those of its chunk (the server's footprint).
OfxStatus frames_needed(OfxImageEffectHandle effect, OfxPropertySetHandle in_args, OfxPropertySetHandle out_args) {
  Instance *instance = instance_of(effect);
  if (instance == nullptr) return kOfxStatErrBadHandle;
  double time = 0;
  gProps->propGetDouble(in_args, kOfxPropTime, 0, &time);
  try {
    std::lock_guard<std::mutex> lock(instance->mutex);
    Render job(effect, *instance, time);
    int t = int(std::lround(time));
    job.check_in_shot(t);
    std::vector<int> frames;
    for (int f : job.chunk_of(t)) frames.insert(frames.end(), job.reads_of(f).begin(), job.reads_of(f).end());
    add_ranges(out_args, std::string(kOfxImageClipPropFrameRangePrefix) + kOfxImageEffectSimpleSourceClipName, frames);
    if (instance->context == kOfxImageEffectContextGeneral) {
      add_ranges(out_args, std::string(kOfxImageClipPropFrameRangePrefix) + kMatteClip, frames);
      if (!job.reference_frames().empty())  // every reference, whatever t: any window may carry it
        add_ranges(out_args, std::string(kOfxImageClipPropFrameRangePrefix) + kReferenceClip, job.reference_frames());
    }
  } catch (const std::exception &) {
    return kOfxStatReplyDefault;  // no server or no shot yet: the render says why; the host assumes frame t
  }
  return kOfxStatOK;
}

// Regions of interest: the whole input frame, whatever the window (the engine crops around the matte of many frames).
OfxStatus regions_of_interest(OfxImageEffectHandle effect, OfxPropertySetHandle in_args, OfxPropertySetHandle out_args) {
  double time = 0;
  gProps->propGetDouble(in_args, kOfxPropTime, 0, &time);
  const char *names[] = {kOfxImageEffectSimpleSourceClipName, kMatteClip, kReferenceClip};
  for (const char *name : names) {
    OfxImageClipHandle clip = clip_handle(effect, name);
    if (clip == nullptr) continue;
    OfxRectD rod{};
    if (gEffects->clipGetRegionOfDefinition(clip, time, &rod) != kOfxStatOK) continue;
    std::string key = std::string(kOfxImageClipPropRoIPrefix) + name;
    gProps->propSetDoubleN(out_args, key.c_str(), 4, &rod.x1);
  }
  return kOfxStatOK;
}

OfxStatus instance_changed(OfxImageEffectHandle effect, OfxPropertySetHandle in_args) {
  char *type = nullptr, *name = nullptr;
  gProps->propGetString(in_args, kOfxPropType, 0, &type);
  gProps->propGetString(in_args, kOfxPropName, 0, &name);
  if (type && name && std::strcmp(type, kOfxTypeParameter) == 0 && std::strcmp(name, kProcessShot) == 0) {
    double time = 0;
    gProps->propGetDouble(in_args, kOfxPropTime, 0, &time);
    return process_shot(effect, time);
  }
  return kOfxStatReplyDefault;
}

OfxStatus load() {
  if (gHost == nullptr) return kOfxStatErrMissingHostFeature;
  gProps = static_cast<const OfxPropertySuiteV1 *>(gHost->fetchSuite(gHost->host, kOfxPropertySuite, 1));
  gEffects = static_cast<const OfxImageEffectSuiteV1 *>(gHost->fetchSuite(gHost->host, kOfxImageEffectSuite, 1));
  gParams = static_cast<const OfxParameterSuiteV1 *>(gHost->fetchSuite(gHost->host, kOfxParameterSuite, 1));
  gMessages = static_cast<const OfxMessageSuiteV1 *>(gHost->fetchSuite(gHost->host, kOfxMessageSuite, 1));
  gProgress = static_cast<const OfxProgressSuiteV1 *>(gHost->fetchSuite(gHost->host, kOfxProgressSuite, 1));
  if (gProps == nullptr || gEffects == nullptr || gParams == nullptr) return kOfxStatErrMissingHostFeature;
  return kOfxStatOK;
}

OfxStatus main_entry(const char *action, const void *handle, OfxPropertySetHandle in_args,
                     OfxPropertySetHandle out_args) {
  auto effect = static_cast<OfxImageEffectHandle>(const_cast<void *>(handle));
  std::string name = action ? action : "";
  try {
    if (name == kOfxActionLoad) return load();
    if (name == kOfxActionUnload) return kOfxStatOK;
    if (name == kOfxActionDescribe) return describe(effect);
    if (name == kOfxImageEffectActionDescribeInContext) return describe_in_context(effect, in_args);
    if (name == kOfxActionCreateInstance) return create_instance(effect);
    if (name == kOfxActionDestroyInstance) return destroy_instance(effect);
    if (name == kOfxImageEffectActionGetClipPreferences) return clip_preferences(effect, out_args);
    if (name == kOfxImageEffectActionGetFramesNeeded) return frames_needed(effect, in_args, out_args);
    if (name == kOfxImageEffectActionGetRegionsOfInterest) return regions_of_interest(effect, in_args, out_args);
    if (name == kOfxImageEffectActionRender) return render(effect, in_args);
    if (name == kOfxActionInstanceChanged) return instance_changed(effect, in_args);
  } catch (const std::exception &error) {  // nothing may cross into the host
    if (effect != nullptr && name != kOfxActionDescribe) post_error(effect, std::string("Remove Object: ") + error.what());
    return kOfxStatFailed;
  } catch (...) {
    return kOfxStatErrUnknown;
  }
  return kOfxStatReplyDefault;
}

void set_host(OfxHost *host) { gHost = host; }

OfxPlugin gPlugin = {kOfxImageEffectPluginApi, kOfxImageEffectPluginApiVersion, kPluginIdentifier, 1, 0, set_host,
                     main_entry};

}  // namespace
}  // namespace e2fgvi_ofx

extern "C" {
E2FGVI_OFX_EXPORT int OfxGetNumberOfPlugins(void) { return 1; }
E2FGVI_OFX_EXPORT OfxPlugin *OfxGetPlugin(int nth) { return nth == 0 ? &e2fgvi_ofx::gPlugin : nullptr; }
}
