"""Device trust: who may connect to the MQTT broker and which topics each may use (docs/security.md)."""
