"""Writes the benchmark CNN of BENCHMARKS.md (Conv2D(32,3,relu) -> MaxPool -> Conv2D(64,3,relu)
-> MaxPool -> Flatten -> Dense(10), 28x28x1) as .tflite with TensorFlow's own converter: float32
and full-integer int8 (int8 input/output, calibrated on random data), random weights (seeded), and
times LiteRT (XNNPACK) on both at 1 and 2 threads on this machine.

Run with a venv holding tensorflow-cpu==2.21.0 and ai-edge-litert:
    python make_models.py            # writes bench_cnn_f32.tflite, bench_cnn_int8.tflite
"""
import os
import time

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

HERE = os.path.dirname(os.path.abspath(__file__))
tf.keras.utils.set_random_seed(7)
model = tf.keras.Sequential([
    tf.keras.Input((28, 28, 1)),
    tf.keras.layers.Conv2D(32, 3, activation="relu"),
    tf.keras.layers.MaxPooling2D(),
    tf.keras.layers.Conv2D(64, 3, activation="relu"),
    tf.keras.layers.MaxPooling2D(),
    tf.keras.layers.Flatten(),
    tf.keras.layers.Dense(10),
])
rep = np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)

conv = tf.lite.TFLiteConverter.from_keras_model(model)
open(os.path.join(HERE, "bench_cnn_f32.tflite"), "wb").write(conv.convert())

conv = tf.lite.TFLiteConverter.from_keras_model(model)
conv.optimizations = [tf.lite.Optimize.DEFAULT]
conv.representative_dataset = lambda: ([x[None]] for x in rep)
conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
conv.inference_input_type = tf.int8
conv.inference_output_type = tf.int8
open(os.path.join(HERE, "bench_cnn_int8.tflite"), "wb").write(conv.convert())

for name in ["bench_cnn_f32", "bench_cnn_int8"]:
    for threads in [1, 2]:
        it = Interpreter(model_path=os.path.join(HERE, name + ".tflite"), num_threads=threads)
        it.allocate_tensors()
        d = it.get_input_details()[0]
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        for _ in range(500):
            it.invoke()
        times = []
        for _ in range(11):
            t = time.perf_counter()
            for _ in range(1000):
                it.invoke()
            times.append((time.perf_counter() - t) / 1000 * 1e6)
        print(f"LiteRT {name} threads={threads}: median {sorted(times)[5]:.1f} us")
