"""Run moto's server with the plugin: ``python -m tests.aws_emulator -p PORT``."""

import sys

from moto.server import main

from .plugin import apply

apply()
main(sys.argv[1:])
