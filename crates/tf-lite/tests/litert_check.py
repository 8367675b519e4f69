"""Runs files written by our converter in LiteRT (the official interpreter) and compares with
tf-core's reference output. By hand (CI has no Python):

    mkdir -p /tmp/conv && TFLITE_WRITE_CONVERTED=/tmp/conv cargo test -p tf-lite --test convert write_files
    python crates/tf-lite/tests/litert_check.py /tmp/conv     # needs numpy + ai-edge-litert
"""
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter

d = sys.argv[1]
x = np.load(f"{d}/input.npy")
want = np.load(f"{d}/expected.npy")
ok = True
for name, tol in [("f32", 1e-5), ("f16", 2e-3), ("w8", 3e-2)]:
    it = Interpreter(model_path=f"{d}/net_{name}.tflite")
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    runner = it.get_signature_runner("serving_default")
    sig = runner(image=x)["dense"]
    diff = max(float(np.abs(got - want).max()), float(np.abs(sig - want).max()))
    print(f"net_{name}.tflite in LiteRT: max diff vs tf-core {diff:.3g} (tol {tol})")
    ok &= diff <= tol
sys.exit(0 if ok else 1)
