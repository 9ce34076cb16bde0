"""The Redis adapter: one store per concept, all keys under the KEY_PREFIX namespace (see each module)."""
