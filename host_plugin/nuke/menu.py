"""Nuke runs this file at GUI start-up from every folder on its plug-in path: add *Remove Object* to the Nodes
menu (E2FGVI > Remove Object, shift+alt+R) and register its script-load and knob-changed callbacks."""

from e2fgvi_host.nuke import node

node.register()
