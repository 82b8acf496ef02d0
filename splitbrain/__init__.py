"""splitbrain: a Jepsen-style fault-testing harness.

This package's top level must stay import-light: the systems under test
(``splitbrain.systems.*``) run inside bare containers and remote hosts with
nothing but python3, so importing ``splitbrain`` must not pull in click, rich,
docker or any other third-party package.
"""

__version__ = "0.1.0"
