"""MQTT in: embedded broker, paho client, vendor adapters, batched idempotent ingest."""
