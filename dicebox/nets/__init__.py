"""Networks: the genome that describes one, building it in Keras, training it, the bundle it is
saved as, running it (Keras, ONNX Runtime, LiteRT) and exporting it to other formats.
TensorFlow is imported lazily, inside the functions that build or run a network.
"""
