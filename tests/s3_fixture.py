"""The ``s3_server`` fixture (SeaweedFS ``weed mini`` on free loopback ports); owned by the storage work."""
