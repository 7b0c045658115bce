"""*Remove Object* for DaVinci Resolve and Fusion: ``RemoveObject.fuse`` (Lua, free and Studio, Fusion page),
``resolve_script.py`` (Python, Studio, Workspace > Scripts) and ``adapter.py`` (the only Python module calling
Resolve's scripting API; the Fuse keeps its Fusion calls in its last block)."""
