"""host_plugin."""
