"""Synth definitions shipped with synthmatch (TOML; the format is in docs/definitions.md)."""
