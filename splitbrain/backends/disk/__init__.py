"""The ``disk`` fault's home: a data directory that forgets what was never fsync'd.

:mod:`.lazyjournal` is the durability model (what a disk has promised),
:mod:`.lazyfs` the FUSE daemon that serves a node's data directory with it,
:mod:`.mount` the control node's side on the local backend (mount, talk to and
unmount it), :mod:`.container` the same inside a node's docker container.
"""
