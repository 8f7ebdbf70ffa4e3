"""State: the store, its model, fixtures and persistence; one path for each change."""
