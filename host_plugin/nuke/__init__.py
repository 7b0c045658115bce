"""*Remove Object* for Nuke: ``node.py`` (knobs, Process, callbacks), ``adapter.py`` (the only module calling
``nuke``), and ``init.py``/``menu.py``, which the installer places in a folder on Nuke's plug-in path."""
