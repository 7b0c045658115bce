"""e2fgvi_server (the repository folder ``server/``): the inference server; ``protocol`` is its wire contract."""
