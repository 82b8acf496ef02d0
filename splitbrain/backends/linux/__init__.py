"""Kernel-level faults on a Linux node (a container or a host) as shell commands.

:mod:`.net` builds the iptables chains for partitions and packet loss and the
NFQUEUE rules for delay (the daemon is :mod:`splitbrain.backends.onnode.netdelay`).
"""
