"""Inactivity detection: activity edges from power, deadlines, and the sweeper."""
