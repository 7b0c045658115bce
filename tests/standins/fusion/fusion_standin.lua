--[[
A stand-in for the parts of Fusion's Fuse API that host_plugin/resolve/RemoveObject.fuse calls, written from
Blackmagic's Fuse documentation (FuRegisterClass, CT_Tool, Create/Process, self:AddInput/AddOutput, Input:GetValue,
Input:GetSource, ComboControl entries as { CCS_AddString = ... }, CheckboxControl (a Number input, 0 or 1: Lua
takes a 0 as true, so a Fuse must compare), Output:Set, Image({IMG_Like=...}), Pixel(), Image:GetPixel and
SetPixel, image Width/Height, req.Time, req:GetFlags(), req:IsPreCalc(), self.Comp:GetAttrs(), self:SetProgress,
self.Status, self.Name).

Why Lua: the Fuse runs here in real LuaJIT 2.1 (lupa), the Lua Fusion embeds; this file gives it the globals Fusion
would. Pixels are real: the test hands frames in as float32 RGBA bytes (rows bottom to top, as Fusion stores them)
through `Standin.host_frame(input_name, frame) -> width, height, bytes[, left, bottom, right, top]` and reads the
output back the same way. Fusion images are premultiplied RGBA floats with (0, 0) at the bottom left; so are these.

Where Fusion hurts, so does the stand-in:
- An image has a data window (`image.DataWindow`, Fusion's DoD: left/bottom inclusive, right/top exclusive) that
  can be smaller than the frame; outside it there is no data (zero here).
- `self.Status` is Fusion's abort flag ("OK" until the request is aborted: `Standin.aborted()`, a test hook);
  a Fuse that writes it is refused. An aborted Process may set no output (`Standin.render` returns nil).
- Every `GetPixel`/`SetPixel` is counted (`Standin.pixel_calls`): a Lua call per pixel is what makes a Fuse crawl
  on a 4K frame, and a test fails when the count grows with the frame's area.
- EXRIO (Fusion 9+), with the signatures Fusion itself reports (docs/hosts.md names the sources): `EXRIO()`;
  `ReadOpen(path, frame)` and `WriteOpen(path, frame)` return nothing (success shows in ReadHeader/WriteHeader and
  GetLastError); `ReadHeader()` -> boolean; `DisplayWindow(part)`/`DataWindow(part)` -> ImgRectI; `Part(part)` (read)
  and `Part(name, display_window, data_window, pixel_aspect)` (write) -> the part's number, which ReadPart/WritePart
  take; `Channel(name, type, image_index, chan[, default])`; `ReadPart(part, {images})`, `WriteHeader()`,
  `WritePart(part, {images})`, `Close()` -> boolean; `GetLastError()` -> string, `ClearLastError()`; `IsOpen`,
  `IsWriting`, `NumParts`. Sample types: only `ANY_TYPE` is defined (the one public Fuses show; `FLOAT_TYPE` and
  `HALF_TYPE` are not confirmed, so a Fuse must not need them). A channel not in the file, a size that is not the
  image's, a type that is nil, a WritePart before WriteHeader or with a part number Part did not give, is an error
  (false and `GetLastError`), never a silent zero. The files are real EXRs (the test's `Standin.exr_write`/
  `Standin.exr_read` hooks, OpenImageIO). `ImgRectI(rect)` copies a rectangle; `:Offset(dx, dy)`.
--]]

local ffi = require("ffi")

Standin = { registered = nil, inputs = {}, order = {}, outputs = {}, progress = {}, status = {},
  comp_start = 0, comp_end = 0, host_frame = nil }

CT_Tool = "CT_Tool"

function FuRegisterClass(name, kind, attrs)
  assert(kind == CT_Tool, "the stand-in registers tools only")
  Standin.registered = { name = name, attrs = attrs }
end

Standin.pixel_calls = 0

function Pixel()
  return { R = 0.0, G = 0.0, B = 0.0, A = 0.0 }
end

CHAN_RED, CHAN_GREEN, CHAN_BLUE, CHAN_ALPHA = 0, 1, 2, 3
ANY_TYPE = "any"  -- FLOAT_TYPE/HALF_TYPE: not confirmed to exist in Fusion, so not here either

local RectMethods = {}
RectMethods.__index = RectMethods

function ImgRectI(rect)
  return setmetatable({ left = rect.left, bottom = rect.bottom, right = rect.right, top = rect.top }, RectMethods)
end

function RectMethods:Offset(dx, dy)
  self.left, self.right = self.left + dx, self.right + dx
  self.bottom, self.top = self.bottom + dy, self.top + dy
end

local ImageMethods = {}
ImageMethods.__index = ImageMethods

local function new_image(width, height, data, window)
  local image = setmetatable({ Width = width, Height = height, data = data or ffi.new("float[?]", width * height * 4),
    DataWindow = ImgRectI(window or { left = 0, bottom = 0, right = width, top = height }) }, ImageMethods)
  return image
end

local function inside(image, x, y)
  local w = image.DataWindow
  return x >= w.left and x < w.right and y >= w.bottom and y < w.top
end

function ImageMethods:GetPixel(x, y, p)
  Standin.pixel_calls = Standin.pixel_calls + 1
  if not inside(self, x, y) then
    p.R, p.G, p.B, p.A = 0.0, 0.0, 0.0, 0.0
    return
  end
  local i = 4 * (y * self.Width + x)
  p.R, p.G, p.B, p.A = self.data[i], self.data[i + 1], self.data[i + 2], self.data[i + 3]
end

function ImageMethods:SetPixel(x, y, p)
  Standin.pixel_calls = Standin.pixel_calls + 1
  if inside(self, x, y) then
    local i = 4 * (y * self.Width + x)
    self.data[i], self.data[i + 1], self.data[i + 2], self.data[i + 3] = p.R, p.G, p.B, p.A
  end
end

function ImageMethods:bytes()
  return ffi.string(self.data, self.Width * self.Height * 16)
end

function Image(attrs)
  local like = attrs.IMG_Like
  local width, height = attrs.IMG_Width or like.Width, attrs.IMG_Height or like.Height
  local window = attrs.IMG_DataWindow or (like and like.DataWindow)
  if attrs.IMG_NoData then
    return new_image(width, height, ffi.new("float[1]"), window)
  end
  return new_image(width, height, nil, window)
end

local function host_image(name, frame)
  local width, height, bytes, left, bottom, right, top = Standin.host_frame(name, frame)
  if width == nil then
    return nil
  end
  local data = ffi.new("float[?]", width * height * 4)
  ffi.copy(data, bytes, width * height * 16)
  local window = { left = left or 0, bottom = bottom or 0, right = right or width, top = top or height }
  for y = 0, height - 1 do  -- no data outside the data window (a stand-in loop: not counted, not the Fuse's)
    for x = 0, width - 1 do
      if x < window.left or x >= window.right or y < window.bottom or y >= window.top then
        local i = 4 * (y * width + x)
        data[i], data[i + 1], data[i + 2], data[i + 3] = 0, 0, 0, 0
      end
    end
  end
  return new_image(width, height, data, window)
end

-- EXRIO ----------------------------------------------------------------------------------------------------------
local ExrMethods = {}
ExrMethods.__index = ExrMethods

function EXRIO()
  return setmetatable({ error = "", channels = {}, mode = nil, path = nil, header = nil, part = nil,
    header_written = false, IsOpen = false, IsWriting = false, NumParts = 0 }, ExrMethods)
end

function ExrMethods:GetLastError()
  return self.error
end

function ExrMethods:ClearLastError()
  self.error = ""
end

local function fail(exr, problem)
  exr.error = problem
  return false
end

function ExrMethods:ReadOpen(path, frame)
  self.mode, self.path, self.channels = "read", path, {}
  self.IsOpen, self.IsWriting = true, false
end

function ExrMethods:ReadHeader()
  local header = Standin.exr_header(self.path)  -- { display = {l, b, r, t}, data = {l, b, r, t}, names = {...} }
  if header == nil then
    self.error = "cannot open " .. self.path
    return false
  end
  self.header = header
  self.NumParts = 1
  return true
end

local function rect(t)
  return ImgRectI({ left = t[1], bottom = t[2], right = t[3], top = t[4] })
end

function ExrMethods:DisplayWindow(part)
  return rect(self.header.display)
end

function ExrMethods:DataWindow(part)
  return rect(self.header.data)
end

function ExrMethods:Part(name_or_part, display, data, aspect)
  if self.mode == "write" then
    assert(type(name_or_part) == "string" and display and data and aspect,
      "EXRIO:Part(name, display_window, data_window, pixel_aspect) when writing")
    self.part = { name = name_or_part, display = ImgRectI(display), data = ImgRectI(data) }
    self.NumParts = 1
    return 1  -- the number of the part just added: the one WritePart takes
  end
  self.channels = {}
  return name_or_part
end

function ExrMethods:Channel(name, kind, image_index, chan, default)
  assert(kind ~= nil, "EXRIO:Channel: the sample type is nil (is that constant defined in Fusion?)")
  self.channels[#self.channels + 1] = { name = name, kind = kind, index = image_index, chan = chan }
end

-- The rows of `window` (bottom to top) of channel `chan` of `image` as float32 bytes; zero outside its data.
local function channel_bytes(image, window, chan)
  local w, h = window.right - window.left, window.top - window.bottom
  local out = ffi.new("float[?]", w * h)
  for y = 0, h - 1 do
    for x = 0, w - 1 do
      local ix, iy = window.left + x, window.bottom + y
      if inside(image, ix, iy) and ix < image.Width and iy < image.Height then
        out[y * w + x] = image.data[4 * (iy * image.Width + ix) + chan]
      end
    end
  end
  return ffi.string(out, w * h * 4)
end

function ExrMethods:ReadPart(part, images)
  if part ~= 1 then
    return fail(self, self.path .. " has no part " .. tostring(part))
  end
  local display = rect(self.header.display)
  local data = rect(self.header.data)
  data:Offset(-display.left, -display.bottom)
  for _, channel in ipairs(self.channels) do
    local image = images[channel.index]
    local bytes = Standin.exr_read(self.path, channel.name)  -- the data window's rows, bottom to top
    if bytes == nil then
      self.error = self.path .. " has no channel " .. channel.name
      return false
    end
    local w, h = data.right - data.left, data.top - data.bottom
    local values = ffi.cast("const float *", bytes)
    for y = 0, h - 1 do
      for x = 0, w - 1 do
        local ix, iy = data.left + x, data.bottom + y
        if ix >= 0 and iy >= 0 and ix < image.Width and iy < image.Height then
          image.data[4 * (iy * image.Width + ix) + channel.chan] = values[y * w + x]
        end
      end
    end
  end
  return true
end

function ExrMethods:WriteOpen(path, frame)
  self.mode, self.path, self.channels = "write", path, {}
  self.IsOpen, self.IsWriting, self.header_written = true, true, false
end

function ExrMethods:WriteHeader()
  if self.part == nil then
    return fail(self, "no part given before WriteHeader")
  end
  self.header_written = true
  return true
end

function ExrMethods:WritePart(part, images)
  if not self.header_written then
    return fail(self, "WritePart before WriteHeader")
  end
  if part ~= 1 then
    return fail(self, "no part " .. tostring(part) .. " was added (Part returns the number to write)")
  end
  local p = self.part
  local names, planes = {}, {}
  for index, channel in ipairs(self.channels) do
    names[index] = channel.name
    planes[index] = channel_bytes(images[channel.index], p.data, channel.chan)
  end
  local ok, problem = Standin.exr_write(self.path, { p.display.left, p.display.bottom, p.display.right,
    p.display.top }, { p.data.left, p.data.bottom, p.data.right, p.data.top }, names, planes)
  if not ok then
    self.error = problem
    return false
  end
  return true
end

function ExrMethods:Close()
  self.mode, self.IsOpen, self.IsWriting = nil, false, false
  return self.error == ""
end

local InputMethods = {}
InputMethods.__index = InputMethods

function InputMethods:GetValue(req)
  if self.attrs.LINKID_DataType == "Image" then
    return host_image(self.name, req.Time)
  end
  return { Value = self.value }
end

function InputMethods:GetSource(time, flags)
  assert(self.attrs.LINKID_DataType == "Image", "GetSource on a control")
  return host_image(self.name, time)
end

local OutputMethods = {}
OutputMethods.__index = OutputMethods

function OutputMethods:Set(req, image)
  Standin.outputs[req.Time] = image
end

local Tool = { Name = "RemoveObject1", Comp = {} }

function Tool.Comp:GetAttrs()
  return { COMPN_GlobalStart = Standin.comp_start, COMPN_GlobalEnd = Standin.comp_end }
end

function Tool:AddInput(label, name, attrs)
  if attrs.INPID_InputControl == "CheckboxControl" then  -- Fusion's checkbox is a Number input, 0 or 1
    assert(attrs.LINKID_DataType == "Number",
      "a CheckboxControl holds a Number, not " .. tostring(attrs.LINKID_DataType))
    assert(attrs.INP_Default == 0 or attrs.INP_Default == 1, "a CheckboxControl's INP_Default is 0 or 1")
  end
  local items = {}
  for index, entry in ipairs(attrs) do  -- a ComboControl's entries: { CCS_AddString = "..." } in the array part
    items[index] = entry.CCS_AddString
  end
  local input = setmetatable({ label = label, name = name, attrs = attrs, items = items, value = attrs.INP_Default },
    InputMethods)
  Standin.inputs[name] = input
  Standin.order[#Standin.order + 1] = name
  return input
end

function Tool:AddOutput(label, name, attrs)
  return setmetatable({ label = label, name = name, attrs = attrs }, OutputMethods)
end

function Tool:SetProgress(fraction)
  Standin.progress[#Standin.progress + 1] = fraction
end

-- self.Status is Fusion's abort flag: "OK" while the request stands, anything else once it was aborted (ESC, a
-- changed control or time). `Standin.aborted()` (a test hook) says when; a Fuse that writes Status is refused.
Standin.aborted = function() return false end
setmetatable(Tool, {
  __index = function(t, key)
    if key == "Status" then
      return Standin.aborted() and "Aborted" or "OK"
    end
    return nil
  end,
  __newindex = function(t, key, value)
    if key == "Status" then
      error("self.Status is Fusion's abort flag, not a message: use SetProgress", 2)
    end
    rawset(t, key, value)
  end,
})

self = Tool

-- Test hooks ------------------------------------------------------------------------------------------------------
function Standin.load(fuse_source)
  local chunk = assert(loadstring(fuse_source, "=RemoveObject.fuse"))
  chunk()
  Create()
end

function Standin.set(name, value)
  local input = Standin.inputs[name]
  assert(input, "no control named " .. name)
  if input.attrs.LINKID_DataType == "Number" then  -- a Number input holds a number (a checkbox: 0 or 1), never true
    assert(type(value) == "number", "control " .. name .. " holds a Number, not a " .. type(value))
  end
  input.value = value
end

-- Render `frame` as Fusion would: Process with a request for that time; returns width, height, RGBA bytes.
function Standin.render(frame)
  local req = { Time = frame }
  function req:GetFlags() return 0 end
  function req:IsPreCalc() return false end
  Standin.outputs[frame] = nil
  Process(req)
  local image = Standin.outputs[frame]
  if image == nil then
    return nil  -- Process set no output (an aborted request)
  end
  return image.Width, image.Height, image:bytes()
end

function Standin.controls()
  local out = {}
  for index, name in ipairs(Standin.order) do
    local input = Standin.inputs[name]
    out[index] = { name = name, label = input.label, kind = input.attrs.LINKID_DataType,
      control = input.attrs.INPID_InputControl, default = input.attrs.INP_Default,
      low = input.attrs.INP_MinAllowed, high = input.attrs.INP_MaxAllowed, items = input.items }
  end
  return out
end
