"""host_plugin: the host side of Remove Object (client library, bridge, one adapter per host).

Nothing here may import torch or ``e2fgvi_core``: host applications run their own Python, which often cannot load
them. Of our code only ``e2fgvi_server.protocol`` is imported (by ``e2fgvi_host.client``); a test checks ``sys.modules``.
This ``__init__`` imports nothing, so ``import host_plugin.<host>`` stays as light as that host's adapter.
"""
