"""The sync engine: one cycle pulls, stores, scores and writes back through the connectors."""
