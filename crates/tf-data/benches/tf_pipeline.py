"""TensorFlow's side of benches/pipeline.rs: the same pipeline in tf.data, timed the
same way (one warm-up epoch, then the median of 5 epochs). Prints elements/s.

Run: /tmp/tfenv/bin/python tf_pipeline.py  (tensorflow-cpu==2.21.0)
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

N, D = 60000, 784
images = (np.arange(N * D) % 251).astype(np.float32).reshape(N, D) / 251.0
labels = (np.arange(N) % 10).astype(np.int64)
ds = (
    tf.data.Dataset.from_tensor_slices((images, labels))
    .map(lambda x, y: (x * 2.0, y))
    .shuffle(10000, seed=0)
    .batch(128)
    .prefetch(tf.data.AUTOTUNE)
)


def epoch():
    rows = 0
    for x, _ in ds:
        rows += int(x.shape[0])
    return rows


assert epoch() == N
times = []
for _ in range(5):
    t = time.perf_counter()
    epoch()
    times.append(time.perf_counter() - t)
times.sort()
print(f"TensorFlow {tf.__version__} tf.data pipeline: {N / times[2]:,.0f} elements/s (median of 5 epochs)")
