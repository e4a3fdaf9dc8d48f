"""Anbu's shared kernel: settings, clock, database, tables and enums.

Imports nothing else of ours, so every role can depend on it cheaply.
"""
