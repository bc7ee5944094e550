"""Sentence embeddings of tweets: the offline MiniLM encoder exported to int8 ONNX, scored without torch."""
