// Reference frames on disk for the server: the private scratch folder and minimal float EXR and 8-bit PNG writers.
#include "reference_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <stdexcept>

namespace e2fgvi_ofx {

namespace {

bool usable_folder(const std::string &path) {
  struct stat info {};
  return !path.empty() && stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode) &&
         access(path.c_str(), W_OK | X_OK) == 0;
}

// Python's tempfile.gettempdir() on POSIX: the first usable of $TMPDIR, $TEMP, $TMP, /tmp, /var/tmp, /usr/tmp, cwd.
std::string temp_root() {
  std::vector<std::string> candidates;
  for (const char *name : {"TMPDIR", "TEMP", "TMP"})
    if (const char *value = std::getenv(name); value && *value) candidates.emplace_back(value);
  for (const char *fixed : {"/tmp", "/var/tmp", "/usr/tmp"}) candidates.emplace_back(fixed);
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) != nullptr) candidates.emplace_back(cwd);
  for (std::string path : candidates) {
    if (path.front() != '/' && getcwd(cwd, sizeof cwd) != nullptr) path = std::string(cwd) + "/" + path;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (usable_folder(path)) return path;
  }
  throw std::runtime_error("no usable temp folder (set TMPDIR)");
}

// Make `path` (0700) or accept it only when it is a folder of this user nobody else may write to (the bridge's
// ensure_private_folder: another user could otherwise plant a link where our frames go).
void ensure_private_folder(const std::string &path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::runtime_error("cannot make " + path + ": " + std::strerror(errno));
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode) || info.st_uid != getuid() ||
      (info.st_mode & 022) != 0)
    throw std::runtime_error(path + " is not a private folder of this user (a link, another owner, or writable by "
                             "others): remove it");
}

void put_i32(std::vector<uint8_t> &out, int32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(uint32_t(value) >> (8 * i)));
}

void put_u64(std::vector<uint8_t> &out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(value >> (8 * i)));
}

void put_f32(std::vector<uint8_t> &out, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  put_i32(out, int32_t(bits));
}

void put_text(std::vector<uint8_t> &out, const std::string &text) {
  out.insert(out.end(), text.begin(), text.end());
  out.push_back(0);
}

// One header attribute: name, type name, value size, value (OpenEXR file layout).
void put_attribute(std::vector<uint8_t> &out, const char *name, const char *type, const std::vector<uint8_t> &value) {
  put_text(out, name);
  put_text(out, type);
  put_i32(out, int32_t(value.size()));
  out.insert(out.end(), value.begin(), value.end());
}

constexpr int32_t kMagic = 20000630;
constexpr int32_t kVersion = 2;     // single-part scanline, short names
constexpr int32_t kPixelFloat = 2;  // pixel type FLOAT

}  // namespace

std::string private_scratch_folder() {
  std::string user = temp_root() + "/e2fgvi-" + std::to_string(getuid());
  ensure_private_folder(user);
  std::string folder = user + "/bridge";
  ensure_private_folder(folder);
  return folder;
}

std::vector<uint8_t> float_exr_bytes(int width, int height, const std::vector<std::string> &names,
                                     const std::vector<float> &pixels) {
  const size_t count = names.size();
  if (width <= 0 || height <= 0 || count == 0 || pixels.size() != size_t(width) * height * count)
    throw std::runtime_error("an EXR needs a non-empty image with one value per pixel and channel");
  std::vector<size_t> order(count);  // a channel list is sorted by name
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&names](size_t a, size_t b) { return names[a] < names[b]; });
  std::vector<uint8_t> chlist;
  for (size_t i : order) {
    put_text(chlist, names[i]);
    put_i32(chlist, kPixelFloat);
    chlist.insert(chlist.end(), {0, 0, 0, 0});  // pLinear, three reserved bytes
    put_i32(chlist, 1);                        // x sampling
    put_i32(chlist, 1);                        // y sampling
  }
  chlist.push_back(0);
  std::vector<uint8_t> box;
  for (int32_t v : {0, 0, width - 1, height - 1}) put_i32(box, v);
  std::vector<uint8_t> out, value;
  put_i32(out, kMagic);
  put_i32(out, kVersion);
  put_attribute(out, "channels", "chlist", chlist);
  put_attribute(out, "compression", "compression", {0});  // NO_COMPRESSION: one scanline per chunk
  put_attribute(out, "dataWindow", "box2i", box);
  put_attribute(out, "displayWindow", "box2i", box);
  put_attribute(out, "lineOrder", "lineOrder", {0});  // INCREASING_Y
  put_f32(value, 1.0f);
  put_attribute(out, "pixelAspectRatio", "float", value);
  value.clear();
  put_f32(value, 0.0f);
  put_f32(value, 0.0f);
  put_attribute(out, "screenWindowCenter", "v2f", value);
  value.clear();
  put_f32(value, 1.0f);
  put_attribute(out, "screenWindowWidth", "float", value);
  out.push_back(0);  // end of header
  const uint64_t row_bytes = uint64_t(count) * width * 4;
  const uint64_t first = out.size() + 8 * uint64_t(height);
  out.reserve(first + height * (8 + row_bytes));
  for (int y = 0; y < height; ++y) put_u64(out, first + uint64_t(y) * (8 + row_bytes));
  for (int y = 0; y < height; ++y) {
    put_i32(out, y);
    put_i32(out, int32_t(row_bytes));
    for (size_t c : order)  // each channel's whole row, in the channel list's order
      for (int x = 0; x < width; ++x) put_f32(out, pixels[(size_t(y) * width + x) * count + c]);
  }
  return out;
}

namespace {

void put_u32_be(std::vector<uint8_t> &out, uint32_t value) {
  for (int i = 3; i >= 0; --i) out.push_back(uint8_t(value >> (8 * i)));
}

// CRC-32 of PNG chunks (ISO 3309 polynomial, reflected), as the PNG specification's sample code defines it.
uint32_t crc32(const uint8_t *data, size_t size, uint32_t crc = 0) {
  static const std::vector<uint32_t> table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

void put_chunk(std::vector<uint8_t> &out, const char *type, const std::vector<uint8_t> &data) {
  put_u32_be(out, uint32_t(data.size()));
  const size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put_u32_be(out, crc32(out.data() + start, out.size() - start));
}

}  // namespace

std::vector<uint8_t> png8_bytes(int width, int height, int channels, const std::vector<uint8_t> &pixels) {
  if (width <= 0 || height <= 0 || (channels != 3 && channels != 4) ||
      pixels.size() != size_t(width) * height * channels)
    throw std::runtime_error("a PNG needs a non-empty RGB or RGBA image with one byte per pixel and channel");
  std::vector<uint8_t> header;
  put_u32_be(header, uint32_t(width));
  put_u32_be(header, uint32_t(height));
  header.insert(header.end(), {8, uint8_t(channels == 4 ? 6 : 2), 0, 0, 0});  // depth, colour type, deflate, 0, 0
  // The image data: each row after its filter byte (0: none), in a zlib stream of stored deflate blocks.
  const size_t row = size_t(width) * channels;
  std::vector<uint8_t> raw;
  raw.reserve(size_t(height) * (row + 1));
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), pixels.begin() + ptrdiff_t(size_t(y) * row), pixels.begin() + ptrdiff_t(size_t(y + 1) * row));
  }
  std::vector<uint8_t> stream = {0x78, 0x01};  // deflate, 32 KiB window, no dictionary, fastest
  uint32_t a = 1, b = 0;                      // Adler-32 of the raw data
  for (uint8_t v : raw) {
    a = (a + v) % 65521u;
    b = (b + a) % 65521u;
  }
  size_t done = 0;
  do {
    const size_t size = std::min<size_t>(raw.size() - done, 65535);
    const bool last = done + size == raw.size();
    stream.push_back(last ? 1 : 0);  // BFINAL, BTYPE 00 (stored)
    stream.insert(stream.end(), {uint8_t(size), uint8_t(size >> 8), uint8_t(~size), uint8_t(~size >> 8)});
    stream.insert(stream.end(), raw.begin() + ptrdiff_t(done), raw.begin() + ptrdiff_t(done + size));
    done += size;
  } while (done < raw.size());
  put_u32_be(stream, (b << 16) | a);
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  put_chunk(out, "IHDR", header);
  put_chunk(out, "IDAT", stream);
  put_chunk(out, "IEND", {});
  return out;
}

void write_file_atomic(const std::string &path, const std::vector<uint8_t> &bytes) {
  auto cut = path.rfind('/');
  std::string folder = cut == std::string::npos ? "." : path.substr(0, cut);
  std::string name = cut == std::string::npos ? path : path.substr(cut + 1);
  std::string temp = folder + "/." + name + ".XXXXXX";
  int fd = mkstemp(temp.data());  // mode 0600
  if (fd < 0) throw std::runtime_error("cannot write in " + folder + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int error = errno;
      close(fd);
      unlink(temp.c_str());
      throw std::runtime_error("cannot write " + path + ": " + std::strerror(error));
    }
    done += size_t(n);
  }
  if (close(fd) != 0 || std::rename(temp.c_str(), path.c_str()) != 0) {
    int error = errno;
    unlink(temp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(error));
  }
}

}  // namespace e2fgvi_ofx
