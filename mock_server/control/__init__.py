"""The control API (`/__mock__/`): its routes, its Python client, the journal and faults."""
