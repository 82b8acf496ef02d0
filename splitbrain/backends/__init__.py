"""Where nodes live: the seam (:mod:`.base`) and the three backends behind it.

* :mod:`.local`: nodes are child processes on 127.0.0.1; the network between
  them is harness-owned link proxies.
* :mod:`.docker`: a container per node; its images, the ``lab`` of sshd hosts.
* :mod:`.ssh`: nodes on real hosts reached over SSH.
* :mod:`.linux`: the kernel-level network faults (iptables, NFQUEUE delay)
  that docker and ssh both apply by running commands on a node.
* :mod:`.onnode`: what is shipped to and runs on the nodes themselves.
* :mod:`.disk`: the ``disk`` fault's fault filesystem (lazyfs) and its mounts.

Shared by all backends: :mod:`.bringup` (waiting for a node, saying why it did
not start), :mod:`.handles` and :mod:`.nodesetup` (a system's files and setup
hooks on a node), :mod:`.faketime` (clock skew through libfaketime).
"""
