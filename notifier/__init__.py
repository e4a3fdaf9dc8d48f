"""Cases and escalation: lifecycle (the only writer of case state), policy, engine, outbox, transports."""
