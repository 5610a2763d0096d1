"""Text handling that needs no model: language tags and detection, sentences, chunks, HTML."""
