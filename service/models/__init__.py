"""Model backends behind one registry. Only the backend modules import torch, transformers or ctranslate2."""
