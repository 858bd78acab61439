"""What the tests share that is not a test: servers on loopback, oracles, hostile inputs, where ../shared is."""
