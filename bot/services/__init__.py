"""Use cases: each takes its adapters as constructor arguments and orchestrates core decisions with them."""
