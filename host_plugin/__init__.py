"""e2fgvi_host (the repository folder ``host_plugin/``): the host side of Remove Object.

Installed under the import name ``e2fgvi_host`` so it cannot collide with a host's own modules. Nothing here may
import torch or ``e2fgvi_core``'s engine: host applications run their own Python, which often cannot load them. Of
our code only ``e2fgvi_server.protocol`` and ``e2fgvi_core.errors`` are imported; a test checks ``sys.modules``.
This ``__init__`` imports nothing, so ``import e2fgvi_host.<host>`` stays as light as that host's adapter.
"""
