"""``python3 -m splitbrain.systems.maelstrom --config JSON``: run one node's shim."""

import sys

from splitbrain.systems.maelstrom.shim import main

if __name__ == "__main__":
    sys.exit(main())
