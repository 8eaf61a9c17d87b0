"""The network: a Llama-style decoder (``model.gpt``) and its export to the Hugging Face layout."""
