--[[
A stand-in for the parts of Fusion's Fuse API that host_plugin/resolve/RemoveObject.fuse calls, written from
Blackmagic's Fuse documentation (FuRegisterClass, CT_Tool, Create/Process, self:AddInput/AddOutput, Input:GetValue,
Input:GetSource, ComboControl entries as { CCS_AddString = ... }, Output:Set, Image({IMG_Like=...}), Pixel(), Image:GetPixel and
SetPixel, image Width/Height, req.Time, req:GetFlags(), req:IsPreCalc(), self.Comp:GetAttrs(), self:SetProgress,
self.Status, self.Name).

Why Lua: the Fuse runs here in real LuaJIT 2.1 (lupa), the Lua Fusion embeds; this file gives it the globals Fusion
would. Pixels are real: the test hands frames in as float32 RGBA bytes (rows bottom to top, as Fusion stores them)
through `Standin.host_frame(input_name, frame) -> width, height, bytes` and reads the output back the same way.
Fusion images are premultiplied RGBA floats with (0, 0) at the bottom left; so are these.
--]]

local ffi = require("ffi")

Standin = { registered = nil, inputs = {}, order = {}, outputs = {}, progress = {}, status = {},
  comp_start = 0, comp_end = 0, host_frame = nil }

CT_Tool = "CT_Tool"

function FuRegisterClass(name, kind, attrs)
  assert(kind == CT_Tool, "the stand-in registers tools only")
  Standin.registered = { name = name, attrs = attrs }
end

function Pixel()
  return { R = 0.0, G = 0.0, B = 0.0, A = 0.0 }
end

local ImageMethods = {}
ImageMethods.__index = ImageMethods

local function new_image(width, height, data)
  local image = setmetatable({ Width = width, Height = height, data = data or ffi.new("float[?]", width * height * 4) },
    ImageMethods)
  return image
end

function ImageMethods:GetPixel(x, y, p)
  local i = 4 * (y * self.Width + x)
  p.R, p.G, p.B, p.A = self.data[i], self.data[i + 1], self.data[i + 2], self.data[i + 3]
end

function ImageMethods:SetPixel(x, y, p)
  local i = 4 * (y * self.Width + x)
  self.data[i], self.data[i + 1], self.data[i + 2], self.data[i + 3] = p.R, p.G, p.B, p.A
end

function ImageMethods:bytes()
  return ffi.string(self.data, self.Width * self.Height * 16)
end

function Image(attrs)
  local like = attrs.IMG_Like
  local width, height = attrs.IMG_Width or like.Width, attrs.IMG_Height or like.Height
  if attrs.IMG_NoData then
    return new_image(width, height, ffi.new("float[1]"))
  end
  return new_image(width, height)
end

local function host_image(name, frame)
  local width, height, bytes = Standin.host_frame(name, frame)
  if width == nil then
    return nil
  end
  local data = ffi.new("float[?]", width * height * 4)
  ffi.copy(data, bytes, width * height * 16)
  return new_image(width, height, data)
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

setmetatable(Tool, { __newindex = function(t, key, value)
  if key == "Status" then
    Standin.status[#Standin.status + 1] = value
  end
  rawset(t, key, value)
end })

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
  input.value = value
end

-- Render `frame` as Fusion would: Process with a request for that time; returns width, height, RGBA bytes.
function Standin.render(frame)
  local req = { Time = frame }
  function req:GetFlags() return 0 end
  function req:IsPreCalc() return false end
  Process(req)
  local image = Standin.outputs[frame]
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
