"""The events API: the four endpoints and the rooms they call (auth, channels, tokens, errors)."""
