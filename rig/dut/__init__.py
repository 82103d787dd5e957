"""The IX-30 unit under test: framing (pure functions) and the client over pyserial."""
