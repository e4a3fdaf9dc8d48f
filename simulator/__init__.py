"""The outside world, simulated: households whose plugs publish real device payloads, and a
Twilio emulator that rings residents and drives our webhooks.

This package imports nothing of the server (core, gateway, anomaly, notifier, api, anbu): it
must not share parsing or signing code with what it tests.
"""
