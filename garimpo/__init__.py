"""garimpo: Portuguese-first corpus curation and small-LM training, linked by versioned artifacts."""

__version__ = "0.1.0"
