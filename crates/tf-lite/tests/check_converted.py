"""Checks `tflite convert` output in LiteRT (ai-edge-litert) against Keras's predictions.

Usage: check_converted.py FIXTURES_DIR DIR_WITH_CONVERTED [TFLITE_BIN]
Expects DIR/{mlp,cnn}-{none,float16,dynamic,int8,int8io}.tflite (made with `tflite convert`).
With TFLITE_BIN, also runs our interpreter (`tflite run`) on the same inputs and reports both.
Run with the TensorFlow oracle venv (/tmp/tf-oracle/bin/python); CI does not need it.
"""
import os, subprocess, sys, tempfile
import numpy as np
from ai_edge_litert.interpreter import Interpreter

fix, d = sys.argv[1], sys.argv[2]
ours = sys.argv[3] if len(sys.argv) > 3 else None
ok = True
for name in ["mlp", "cnn"]:
    x = np.load(f"{fix}/{name}_input.npy")
    y = np.load(f"{fix}/{name}_keras_output.npy")
    for q in ["none", "float16", "dynamic", "int8", "int8io"]:
        path = f"{d}/{name}-{q}.tflite"
        if not os.path.exists(path):
            continue
        it = Interpreter(model_path=path)
        i = it.get_input_details()[0]; o = it.get_output_details()[0]
        it.resize_tensor_input(i["index"], list(x.shape)); it.allocate_tensors()
        xin = x
        if i["dtype"] == np.int8:
            s, z = i["quantization"]; xin = np.clip(np.round(x / s + z), -128, 127).astype(np.int8)
        it.set_tensor(i["index"], xin.astype(i["dtype"])); it.invoke(); z = it.get_tensor(o["index"])
        raw = z
        if o["dtype"] == np.int8:
            s, zp = o["quantization"]; z = (z.astype(np.float32) - zp) * s
        tol = 1e-4 if q == "none" else (1e-2 if q == "float16" else 0.05)
        dl = float(np.abs(z - y).max()); good = dl <= tol
        line = f"{name}-{q}: LiteRT vs Keras max diff {dl:.3g} (tol {tol})"
        if ours:
            with tempfile.TemporaryDirectory() as t:
                np.save(f"{t}/x.npy", xin)
                subprocess.run([ours, "run", path, "--input", f"{t}/x.npy", "--output", f"{t}/y.npy"], check=True, capture_output=True)
                r = np.load(f"{t}/y.npy")
            if r.dtype == np.int8:
                line += f"; ours vs LiteRT max int8 diff {int(np.abs(r.astype(int) - raw.astype(int)).max())}"
            else:
                line += f"; ours vs LiteRT max diff {float(np.abs(r - raw).max()):.3g}"
        print(("ok   " if good else "FAIL ") + line)
        ok &= good
sys.exit(0 if ok else 1)
