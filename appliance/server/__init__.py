"""The process side of the CA: supervisor, workers, composition root (ca.json -> objects), background jobs."""
