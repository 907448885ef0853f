"""moto's AWS emulator, extended where the platform needs what moto lacks.

``python -m tests.aws_emulator --port P`` runs moto's server (a real HTTP
process) with the plugin of ``plugin.py`` applied; ``proxy.py`` is a small HTTP
proxy in front of it that injects latency and faults. See each module.
"""
