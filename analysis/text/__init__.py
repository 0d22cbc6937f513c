"""Text as the models see it: cleaning, embeddings and sentiment."""
