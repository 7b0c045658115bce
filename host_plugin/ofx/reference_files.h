// The files the plug-in writes for the server: reference (clean-plate) frames in a private folder, as float EXR, or
// as 8-bit PNG when the host gives 8-bit images.
//
// Why files: the request carries reference frames as `reference` entries ("N=/abs/path", the request schema's one
// key), so a reference the host hands over as pixels is written once to disk first, as the Python bridge does
// (host_plugin/bridge/references.py, exr.py, png.py). The plug-in has no image library, and needs none: a
// single-part scanline EXR with NO_COMPRESSION and 32-bit float channels is a small header around the raw rows, and
// a PNG with stored (uncompressed) deflate blocks is the raw rows in checksummed chunks.
// Why two formats: the server reads float pixels as scene-linear and integer pixels as display values (as it reads
// the plate), so an 8-bit reference written as float would be brightened by the view transform; as 8-bit PNG it is
// read exactly as an artist's 8-bit PNG given to `e2fgvi remove --reference`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace e2fgvi_ofx {

// This user's private folder for frames the plug-in writes: <temp>/e2fgvi-<uid>/bridge, mode 0700, the same folder
// the bridge uses (temp as Python's tempfile.gettempdir(): $TMPDIR, $TEMP, $TMP, else /tmp). Throws
// std::runtime_error when a folder on the way is a link, another user's, or writable by others.
std::string private_scratch_folder();

// The bytes of an EXR holding `pixels` (height x width x names.size() floats, rows top first, channels interleaved
// in the order of `names`), as 32-bit float channels with those names.
std::vector<uint8_t> float_exr_bytes(int width, int height, const std::vector<std::string> &names,
                                     const std::vector<float> &pixels);

// The bytes of an 8-bit PNG holding `pixels` (height x width x channels bytes, rows top first, channels interleaved;
// 3 channels: RGB, 4: RGBA with straight alpha), uncompressed.
std::vector<uint8_t> png8_bytes(int width, int height, int channels, const std::vector<uint8_t> &pixels);

// Write `bytes` to `path` atomically: a temp file (mode 0600) beside it, then a rename. Throws std::runtime_error.
void write_file_atomic(const std::string &path, const std::vector<uint8_t> &bytes);

}  // namespace e2fgvi_ofx
