"""Render farm: exact chunks of one shot as an Open Job Description job (``e2fgvi farm ...``).

``plan`` cuts a shot into chunks from the engine's own window plan, ``template`` writes the OpenJD job template,
``bundle`` writes a job bundle (the one function the CLI and host nodes call), ``render_chunk`` renders one task
and ``session_server`` starts and stops the worker session's ``e2fgvi-server``. Nothing here imports torch.
"""
