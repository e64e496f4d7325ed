"""The model registry: registered models, versions, aliases, lineage, model cards and evaluation gates."""
